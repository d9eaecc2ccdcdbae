import CKernels
import Foundation
import Model
import Tensor

/// `mllm-cl bench decode`: cached decoding of a model as generate, infer and eval run it, against
/// the two ceilings measured in the same run: the memory read bandwidth (a decode step reads every
/// weight once, so bandwidth bounds batch-1 tokens/s) and the sgemm peak (prompt processing).
public enum DecodeBench {
    public struct Options: Sendable {
        public var model: String
        public var batch = 1
        public var newTokens = 128
        public var promptTokens = 0
        public var precision = WeightPrecision.f32
        /// Timed repetitions; the best is reported.
        public var repeats = 3
        public init(model: String) { self.model = model }
    }

    public struct Report: Codable, Sendable {
        public let model: String
        public let dtype: String
        public let kernel: String
        public let threads: Int
        public let batch: Int
        public let newTokens: Int
        public let promptTokens: Int
        /// Generated tokens per second, all sequences together.
        public let tokensPerSecond: Double
        /// Bytes of weights one decode step reads (every projection matrix once).
        public let weightBytesPerStep: Int
        /// `weightBytesPerStep` / batch.
        public let weightBytesPerToken: Int
        public let memoryBandwidthGbps: Double
        /// steps/s × bytes per step / bandwidth: 1 is the ceiling.
        public let bandwidthRatio: Double
        public let promptTokensPerSecond: Double?
        public let promptGflops: Double?
        public let sgemmPeakGflops: Double?
        public let promptRatioToSgemm: Double?
        public let peakResidentBytes: Int

        enum CodingKeys: String, CodingKey {
            case model, dtype, kernel, threads, batch
            case newTokens = "new_tokens", promptTokens = "prompt_tokens", tokensPerSecond = "tokens_per_second"
            case weightBytesPerStep = "weight_bytes_per_step", weightBytesPerToken = "weight_bytes_per_token"
            case memoryBandwidthGbps = "memory_bandwidth_gbps", bandwidthRatio = "bandwidth_ratio"
            case promptTokensPerSecond = "prompt_tokens_per_second", promptGflops = "prompt_gflops"
            case sgemmPeakGflops = "sgemm_peak_gflops", promptRatioToSgemm = "prompt_ratio_to_sgemm"
            case peakResidentBytes = "peak_resident_bytes"
        }
    }

    public static func run(_ o: Options, log: (String) -> Void) throws -> Report {
        guard o.batch >= 1, o.newTokens >= 1, o.promptTokens >= 0, o.repeats >= 1 else {
            throw ModelError("bench decode: --batch and --new-tokens must be at least 1, --prompt-tokens at least 0")
        }
        let bandwidth = readBandwidth()
        log(String(format: "memory read bandwidth: %.1f GB/s (%d threads)", bandwidth / 1e9, Parallel.workers))
        let loaded = try LoadedModel(directory: o.model, languageModelOnly: true)
        let decoder = loaded.decoder, c = decoder.config, B = o.batch
        decoder.useInferencePrecision(o.precision)
        let P = max(1, o.promptTokens), capacity = P + o.newTokens
        guard capacity <= c.maxPositionEmbeddings else {
            throw ModelError("bench decode: \(P) prompt + \(o.newTokens) new tokens exceed the model's context of \(c.maxPositionEmbeddings)")
        }
        let cache = try decoder.makeCache(batch: B, capacity: capacity, chunk: min(P, KVCache.prefillChunk), remedy: "lower --batch or the tokens")
        let bytesPerStep = decoder.decodeWeightBytes
        log("\(o.model): \(decoder.parameters.count) parameters, \(o.precision.rawValue) weights (\(String(format: "%.1f", Double(bytesPerStep) / 1e6)) MB a step), \(MatrixVector.kernel) kernels, batch \(B)")

        // The prompt: the same P ids in every sequence (BOS, then a fixed walk through the vocabulary).
        let V = c.vocabSize
        let prompt = (0..<(B * P)).map { Int32(($0 % P) == 0 ? 1 : (7 + 13 * ($0 % P)) % V) }
        var promptSeconds = Double.infinity, decodeSeconds = Double.infinity
        for _ in 0..<o.repeats {
            cache.reset()
            let t0 = Date()
            var (logits, rows) = decoder.prefill(prompt, rowsPerSequence: P, cache: cache)
            let t1 = Date()
            var next = [Int32](repeating: 0, count: B)
            for _ in 0..<o.newTokens {
                for b in 0..<B { next[b] = argmax(logits.data + (b * rows + rows - 1) * V, V) }
                logits = decoder.forward(newTokens: next, cache: cache)
                rows = 1
            }
            let t2 = Date()
            promptSeconds = min(promptSeconds, t1.timeIntervalSince(t0))
            decodeSeconds = min(decodeSeconds, t2.timeIntervalSince(t1))
        }
        let tokensPerSecond = Double(B * o.newTokens) / decodeSeconds
        let ratio = Double(o.newTokens) / decodeSeconds * Double(bytesPerStep) / bandwidth
        log(String(format: "decode: %d x %d tokens in %.3f s: %.1f tokens/s; %.1f MB a token; bandwidth ratio %.2f",
                   B, o.newTokens, decodeSeconds, tokensPerSecond, Double(bytesPerStep) / Double(B) / 1e6, ratio))

        var promptRate: Double?, promptGflops: Double?, peak: Double?, promptRatio: Double?
        if o.promptTokens > 0 {
            // 2 FLOPs per matrix weight per token, plus attention's scores and values (causal: half of P×P).
            let matrixWeights = Double(bytesPerStep - 4 * c.hiddenSize) / (o.precision == .bf16 ? 2 : 4)
            let attention = Double(c.numHiddenLayers) * 2 * 2 * Double(c.numAttentionHeads * c.headSize) * Double(P) * Double(P + 1) / 2
            let flops = Double(B) * (2 * matrixWeights * Double(P) + attention)
            promptRate = Double(B * P) / promptSeconds
            promptGflops = flops / promptSeconds / 1e9
            peak = sgemmPeak()
            promptRatio = promptGflops! / peak!
            log(String(format: "prompt: %d x %d tokens in %.3f s: %.0f tokens/s, %.1f GFLOPS = %.2f of the sgemm peak (%.1f)",
                       B, P, promptSeconds, promptRate!, promptGflops!, promptRatio!, peak!))
        }
        let rss = Bench.peakResidentBytes()
        log(String(format: "peak RSS %.0f MiB", Double(rss) / 1048576))
        return Report(model: o.model, dtype: o.precision.rawValue, kernel: MatrixVector.kernel, threads: Parallel.workers, batch: B,
                      newTokens: o.newTokens, promptTokens: o.promptTokens, tokensPerSecond: tokensPerSecond,
                      weightBytesPerStep: bytesPerStep, weightBytesPerToken: bytesPerStep / B, memoryBandwidthGbps: bandwidth / 1e9,
                      bandwidthRatio: ratio, promptTokensPerSecond: promptRate, promptGflops: promptGflops, sgemmPeakGflops: peak,
                      promptRatioToSgemm: promptRatio, peakResidentBytes: rss)
    }

    static func argmax(_ row: UnsafePointer<Float>, _ n: Int) -> Int32 {
        var best = 0
        for j in 1..<n where row[j] > row[best] { best = j }
        return Int32(best)
    }

    /// Read bandwidth in bytes/s: a 256 MiB buffer (far beyond the caches) summed by every core at
    /// once, each its own half, as the decode kernels read weights; the best of five passes.
    public static func readBandwidth(bytes: Int = 256 << 20) -> Double {
        let n = bytes / 4, raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        defer { raw.deallocate() }
        let buffer = raw.bindMemory(to: Float.self, capacity: n)
        buffer.initialize(repeating: 1, count: n)
        let parts = Parallel.workers, data = UncheckedSendable(buffer)
        var best = 0.0
        for _ in 0..<5 {
            let start = Date()
            Parallel.forEachIndex(parts) { p in
                let lo = n * p / parts, hi = n * (p + 1) / parts
                _ = mk_read_sum(data.value + lo, hi - lo)
            }
            best = max(best, Double(bytes) / Date().timeIntervalSince(start))
        }
        return best
    }

    /// The best sgemm rate of this run (square 2048, split over the cores), GFLOPS.
    public static func sgemmPeak(size n: Int = 2048) -> Double {
        let a = UnsafeMutablePointer<Float>.allocate(capacity: 3 * n * n)
        defer { a.deallocate() }
        a.initialize(repeating: 0.5, count: 3 * n * n)
        var best = 0.0
        for _ in 0..<3 {
            let start = Date()
            GEMM.multiply(Matrix(a, rows: n, columns: n), Matrix(a + n * n, rows: n, columns: n), into: Matrix(a + 2 * n * n, rows: n, columns: n))
            best = max(best, 2 * Double(n * n * n) / Date().timeIntervalSince(start) / 1e9)
        }
        return best
    }
}
