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
        public init() {}
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
    }

    public static func run(_ o: Options, log: (String) -> Void) -> Report {
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
        var results: [GEMMResult] = []
        for (label, m, n, k, ta, tb) in shapes {
            let g = measureGEMM(m: m, n: n, k: k, transposeA: ta, transposeB: tb)
            results.append(GEMMResult(label: label, m: m, n: n, k: k, gflops: g))
            log("  \(label.padding(toLength: 28, withPad: " ", startingAt: 0)) \(m)x\(n)x\(k)  \(String(format: "%6.1f", g))")
        }
        let peak = results.filter { !$0.label.contains("1 core") }.map(\.gflops).max() ?? 1

        log("training step: hidden \(C), \(c.numHiddenLayers) layers, \(c.numAttentionHeads) heads, intermediate \(I), vocab \(V), batch \(o.batch) x \(T)")
        let decoder = Decoder(config: c)
        decoder.initialize(seed: 1)
        decoder.parameters.setTrainable(matching: ["*"])
        let optimizer = AdamW(parameters: decoder.parameters, config: AdamWConfig())
        let acts = DecoderActivations(config: c, batch: o.batch, sequence: T)
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
        return Report(gemm: results, sgemmPeakGFLOPS: peak, parameters: decoder.parameters.count, tokensPerStep: N,
                      stepSeconds: seconds, tokensPerSecond: Double(N) / seconds, flopsPerStep: flops, achievedGFLOPS: achieved,
                      ratioToSgemm: achieved / peak, peakResidentBytes: rss, analyticBytes: analytic,
                      memoryRatio: Double(rss) / Double(analytic), losses: losses)
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
            let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }
}
