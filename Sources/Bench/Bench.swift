import Collective
import Foundation
import Model
import Tensor
import Train

/// `mllm-cl bench`: sgemm rates at the shapes a training step uses, then the throughput and
/// memory of full decoder training steps (forward, backward, clipping, AdamW), as ratios.
public enum Bench {
    public struct Options: Sendable {
        public var config = DecoderConfig(hiddenSize: 512, numHiddenLayers: 8, numAttentionHeads: 8, intermediateSize: 1376,
                                          vocabSize: 8192, maxPositionEmbeddings: 256)
        public var batch = 8
        public var sequence = 256
        public var steps = 3
        /// The vision tower of the multimodal step (nil: skip it): ViT-style, 224 px, patch 16.
        public var vision: VisionConfig? = VisionConfig(hiddenSize: 192, intermediateSize: 768, numHiddenLayers: 6,
                                                        numAttentionHeads: 3, imageSize: 224, patchSize: 16)
        /// The ranks of a data-parallel job (`mpirun -np N mllm-cl bench`): each times the step
        /// alone, then the allreduce of the step's gradients across the ranks.
        public var communicator: any Communicator = SingleProcess()
        public init() {}
    }

    /// The multimodal training step: images through the tower and projector into the decoder.
    public struct MultimodalReport: Codable, Sendable {
        public let visionParameters: Int
        public let imagesPerStep: Int
        public let imageTokens: Int
        public let stepSeconds: Double
        public let tokensPerSecond: Double
        public let imagesPerSecond: Double
        public let flopsPerStep: Double
        public let achievedGFLOPS: Double
        public let ratioToSgemm: Double
    }

    public struct GEMMResult: Codable, Sendable {
        public let label: String
        public let m, n, k: Int
        public let gflops: Double
    }

    public struct Report: Codable, Sendable {
        public let gemm: [GEMMResult]
        /// The best sgemm rate measured in this run (the ratio's denominator).
        public let sgemmPeakGFLOPS: Double
        public let parameters: Int
        public let tokensPerStep: Int
        public let stepSeconds: Double
        public let tokensPerSecond: Double
        public let flopsPerStep: Double
        public let achievedGFLOPS: Double
        public let ratioToSgemm: Double
        public let peakResidentBytes: Int
        public let analyticBytes: Int
        public let memoryRatio: Double
        public let losses: [Float]
        public let multimodal: MultimodalReport?
        /// Under mpirun: the ranks, the gradient bytes each step sums across them, the allreduce
        /// time and its share of a data-parallel step (step + allreduce).
        public let ranks: Int
        public let gradientBytes: Int
        public let allreduceSeconds: Double?
        public let allreduceFraction: Double?
    }

    public static func run(_ o: Options, log: (String) -> Void) -> Report {
        let c = o.config, N = o.batch * o.sequence
        let C = c.hiddenSize, I = c.intermediateSize, V = c.vocabSize, T = o.sequence
        let results = gemmTable(o, log: log)
        let peak = results.filter { !$0.label.contains("1 core") }.map(\.gflops).max() ?? 1

        log("training step: hidden \(C), \(c.numHiddenLayers) layers, \(c.numAttentionHeads) heads, intermediate \(I), vocab \(V), batch \(o.batch) x \(T)")
        let decoder = DecoderModel(config: c)
        decoder.initialize(seed: 1)
        decoder.parameters.setTrainable(matching: ["*"])
        let optimizer = AdamW(parameters: decoder.parameters, config: AdamWConfig())
        let acts = decoder.makeActivations(batch: o.batch, sequence: T)
        var rng = SeededGenerator(seed: 2)
        let tokens = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        let targets = (0..<N).map { $0 % T == T - 1 ? Int32(-100) : tokens[$0 + 1] }
        acts.setBatch(tokens: tokens, targets: targets)
        var losses: [Float] = []
        func step() {
            decoder.parameters.zeroGradients()
            decoder.forward(acts)
            losses.append(decoder.loss(acts).loss)
            decoder.backward(acts)
            GradientClipping.clip(decoder.parameters, maxNorm: 1)
            optimizer.update(lr: 1e-4)
        }
        step()  // warm-up: first touch of every page
        let start = Date()
        for _ in 0..<o.steps { step() }
        let seconds = Date().timeIntervalSince(start) / Double(o.steps)

        // Model FLOPs (PaLM appendix B): 6 per matmul parameter per token (embedding lookups are not
        // matmuls; the head is) plus 12·L·C·T per token for attention scores and values, full T×T.
        let P = decoder.parameters.table.filter { $0.shape.count == 2 && ($0.name != "model.embed_tokens.weight" || c.tieWordEmbeddings) }
            .reduce(0) { $0 + $1.count }
        let flops = Double(N) * (6 * Double(P) + 12 * Double(c.numHiddenLayers * C * T))
        let achieved = flops / seconds / 1e9
        let paramBytes = 4 * decoder.parameters.count
        let analytic = paramBytes * 2 + optimizer.state.bytes + acts.arena.bytes
        let rss = peakResidentBytes()
        log(String(format: "  %.2f s/step, %.0f tokens/s, %.1f GFLOPS achieved = %.2f of the sgemm peak (%.1f)",
                   seconds, Double(N) / seconds, achieved, achieved / peak, peak))
        log(String(format: "  memory: peak RSS %.0f MiB, analytic %.0f MiB (params+grads %.0f, AdamW %.0f, activations %.0f) = %.2fx",
                   Double(rss) / 1048576, Double(analytic) / 1048576, Double(2 * paramBytes) / 1048576,
                   Double(optimizer.state.bytes) / 1048576, Double(acts.arena.bytes) / 1048576, Double(rss) / Double(analytic)))
        let gradients = decoder.parameters.gradients!, world = o.communicator
        var allreduce: Double?
        if world.size > 1 {
            var best = Double.infinity
            for _ in 0..<3 {
                world.barrier()
                let t = Date()
                world.allreduceSum(gradients.base, count: gradients.used)
                best = min(best, Date().timeIntervalSince(t))
            }
            allreduce = best
            log(String(format: "  allreduce of %.0f MiB of gradients over %d ranks: %.3f s = %.3f of a data-parallel step (%.2f s + %.3f s)",
                       Double(gradients.bytes) / 1048576, world.size, best, best / (seconds + best), seconds, best))
        }
        let multimodal = o.vision.map { multimodalStep(o, vision: $0, peak: peak, log: log) }
        return Report(gemm: results, sgemmPeakGFLOPS: peak, parameters: decoder.parameters.count, tokensPerStep: N,
                      stepSeconds: seconds, tokensPerSecond: Double(N) / seconds, flopsPerStep: flops, achievedGFLOPS: achieved,
                      ratioToSgemm: achieved / peak, peakResidentBytes: rss, analyticBytes: analytic,
                      memoryRatio: Double(rss) / Double(analytic), losses: losses, multimodal: multimodal,
                      ranks: world.size, gradientBytes: gradients.bytes, allreduceSeconds: allreduce,
                      allreduceFraction: allreduce.map { $0 / (seconds + $0) })
    }

    /// sgemm GFLOPS at the shapes a training step of `o` multiplies.
    static func gemmTable(_ o: Options, log: (String) -> Void) -> [GEMMResult] {
        let c = o.config, N = o.batch * o.sequence
        let C = c.hiddenSize, I = c.intermediateSize, V = c.vocabSize, T = o.sequence, D = c.headSize
        log("sgemm (OpenBLAS, split over \(GEMM.threads) cores above \(GEMM.splitThreshold) multiply-adds), GFLOPS:")
        let shapes: [(String, Int, Int, Int, Bool, Bool)] = [
            ("square 1024", 1024, 1024, 1024, false, false),
            ("square 2048", 2048, 2048, 2048, false, false),
            ("q/o proj  x·Wᵀ", N, C, C, false, true),
            ("gate/up   x·Wᵀ", N, I, C, false, true),
            ("down      x·Wᵀ", N, C, I, false, true),
            ("lm_head   x·Wᵀ", N, V, C, false, true),
            ("dW gate   dyᵀ·x", I, C, N, true, false),
            ("dx gate   dy·W", N, C, I, false, false),
            ("attention q·kᵀ (1 core)", T, T, D, false, true),
        ]
        return shapes.map { label, m, n, k, ta, tb in
            let g = measureGEMM(m: m, n: n, k: k, transposeA: ta, transposeB: tb)
            log("  \(label.padding(toLength: 28, withPad: " ", startingAt: 0)) \(m)x\(n)x\(k)  \(String(format: "%6.1f", g))")
            return GEMMResult(label: label, m: m, n: n, k: k, gflops: g)
        }
    }

    /// One image per sequence, its visual tokens first, then text; everything trains.
    static func multimodalStep(_ o: Options, vision v: VisionConfig, peak: Double, log: (String) -> Void) -> MultimodalReport {
        let c = o.config, B = o.batch, T = o.sequence
        let imageToken = Int32(c.vocabSize - 1)
        let model = MultimodalModel(config: MultimodalConfig(textConfig: c, visionConfig: v, imageTokenIndex: Int(imageToken)))
        let F = model.imageTokens
        log("multimodal step: ViT \(v.imageSize) px, patch \(v.patchSize), width \(v.hiddenSize), \(v.numHiddenLayers) layers (\(model.encoder.blockCount) run) "
            + "-> mlp2x_gelu -> the decoder above; \(B) images x \(F) visual tokens in sequences of \(T)")
        guard F < T else {
            log("  skipped: \(F) visual tokens do not fit sequences of \(T)")
            return MultimodalReport(visionParameters: 0, imagesPerStep: 0, imageTokens: F, stepSeconds: 0, tokensPerSecond: 0,
                                    imagesPerSecond: 0, flopsPerStep: 0, achievedGFLOPS: 0, ratioToSgemm: 0)
        }
        model.decoder.initialize(seed: 1)
        model.encoder.initialize(seed: 2)
        model.projector.initialize(seed: 3)
        model.setTrainable(matching: ["*"])
        let optimizer = AdamW(parameterSets: model.parameterSets, config: AdamWConfig())
        let acts = model.makeActivations(batch: B, sequence: T)
        var rng = SeededGenerator(seed: 4)
        var tokens = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(c.vocabSize - 1)) }
        for b in 0..<B { for f in 0..<F { tokens[b * T + 1 + f] = imageToken } }
        let targets = (0..<(B * T)).map { i in i % T == T - 1 || tokens[i + 1] == imageToken ? Int32(-100) : tokens[i + 1] }
        acts.text.setBatch(tokens: tokens, targets: targets)
        for i in 0..<acts.vision.pixels.count { acts.vision.pixels[i] = 2 * rng.uniform() - 1 }
        acts.resetImages()
        for b in 0..<B { acts.assignImage(b, toSequence: b, imageToken: imageToken, visualTokens: F) }
        acts.imageCount = B
        func step() {
            for p in model.parameterSets { p.zeroGradients() }
            model.forward(acts)
            _ = model.decoder.loss(acts.text)
            model.backward(acts)
            GradientClipping.clip(model.parameterSets, maxNorm: 1)
            optimizer.update(lr: 1e-4)
        }
        step()
        let start = Date()
        for _ in 0..<o.steps { step() }
        let seconds = Date().timeIntervalSince(start) / Double(o.steps)
        // The decoder as in the text step; the tower's blocks that run and the projector at 6 FLOPs per
        // parameter per token (the patch embedding at 4: no gradient to the pixels) plus attention.
        let decoderP = model.decoder.parameters.table.filter { $0.shape.count == 2 && $0.name != "model.embed_tokens.weight" }.reduce(0) { $0 + $1.count }
        let blockP = 4 * v.hiddenSize * v.hiddenSize + 2 * v.hiddenSize * v.intermediateSize
        let imageRows = Double(B * v.positions), runs = Double(model.encoder.blockCount)
        let patchP = Double(v.hiddenSize * 3 * v.patchSize * v.patchSize)
        let projP = Double(model.projector.parameters.table.filter { $0.shape.count == 2 }.reduce(0) { $0 + $1.count })
        var flops = Double(B * T) * (6 * Double(decoderP) + 12 * Double(c.numHiddenLayers * c.hiddenSize * T))
        flops += imageRows * (6 * runs * Double(blockP) + 12 * runs * Double(v.hiddenSize * v.positions)) + Double(B * v.patchCount) * 4 * patchP
        flops += Double(B * F) * 6 * projP
        let achieved = flops / seconds / 1e9
        log(String(format: "  %.2f s/step, %.0f tokens/s, %.1f images/s, %.1f GFLOPS achieved = %.2f of the sgemm peak",
                   seconds, Double(B * T) / seconds, Double(B) / seconds, achieved, achieved / peak))
        return MultimodalReport(visionParameters: model.encoder.parameters.count + model.projector.parameters.count, imagesPerStep: B,
                                imageTokens: F, stepSeconds: seconds, tokensPerSecond: Double(B * T) / seconds,
                                imagesPerSecond: Double(B) / seconds, flopsPerStep: flops, achievedGFLOPS: achieved, ratioToSgemm: achieved / peak)
    }

    /// GFLOPS of c = op(a)·op(b) for (m, n, k), repeated for about 0.3 s after a warm-up call.
    static func measureGEMM(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) -> Double {
        let a = Arena(capacity: m * k), b = Arena(capacity: k * n), c = Arena(capacity: m * n)
        var rng = SeededGenerator(seed: 3)
        for i in 0..<(m * k) { a.base[i] = rng.uniform() - 0.5 }
        for i in 0..<(k * n) { b.base[i] = rng.uniform() - 0.5 }
        let am = transposeA ? Matrix(a.base, rows: k, columns: m) : Matrix(a.base, rows: m, columns: k)
        let bm = transposeB ? Matrix(b.base, rows: n, columns: k) : Matrix(b.base, rows: k, columns: n)
        let cm = Matrix(c.base, rows: m, columns: n)
        GEMM.multiply(am, transposeA: transposeA, bm, transposeB: transposeB, into: cm)
        var reps = 0
        let start = Date()
        while Date().timeIntervalSince(start) < 0.3 || reps < 3 {
            GEMM.multiply(am, transposeA: transposeA, bm, transposeB: transposeB, into: cm)
            reps += 1
        }
        return 2 * Double(m) * Double(n) * Double(k) * Double(reps) / Date().timeIntervalSince(start) / 1e9
    }

    /// VmHWM from /proc/self/status, in bytes (0 where unavailable).
    public static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            // "VmHWM:\t  123456 kB", or "VmHWM:\t12345678 kB" once the number fills the column: split on any whitespace
            let kb = line.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }
}
