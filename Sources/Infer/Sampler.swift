import Foundation
import Tensor

/// How the next token is chosen from the logits.
public struct SamplingOptions: Sendable, Equatable {
    /// 0 = greedy (argmax).
    public var temperature: Float = 0
    /// Keep only the k most likely tokens (0 = all).
    public var topK: Int = 0
    /// Keep the smallest set of tokens whose probability reaches p (1 = all).
    public var topP: Float = 1
    public var seed: UInt64 = 0

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    /// Throws unless the temperature is finite and at least 0, top-k at least 0 and top-p in (0, 1],
    /// naming the option.
    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else { throw InferError("--temperature must be a finite number at least 0, got \(temperature)") }
        guard topK >= 0 else { throw InferError("--top-k must be at least 0 (0: all tokens), got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw InferError("--top-p must be in (0, 1], got \(topP)") }
    }
}

/// Picks tokens from logits: greedy, or temperature sampling with top-k and top-p (nucleus) filtering.
/// Seeded, so the same options and logits give the same tokens.
public struct Sampler {
    public let options: SamplingOptions
    var rng: SeededGenerator
    private var order: [Int32] = []
    private var probabilities: [Float] = []

    public init(_ options: SamplingOptions) {
        self.options = options
        rng = SeededGenerator(seed: options.seed)
    }

    /// The next token from one row of `V` logits. Temperature sampling ranks only as many tokens
    /// as top-k and top-p need (a partial selection, widened until the nucleus is found), in the
    /// buffers it keeps: no allocation after the first call, and no sort of a 150k vocabulary.
    public mutating func sample(_ logits: UnsafePointer<Float>, vocabulary V: Int) -> Int32 {
        if options.temperature <= 0 { return Self.argmax(logits, V) }
        if probabilities.count != V {
            probabilities = [Float](repeating: 0, count: V)
            order = [Int32](repeating: 0, count: V)
        }
        let invT = 1 / options.temperature
        var m = -Float.infinity
        for j in 0..<V { m = max(m, logits[j] * invT) }
        var sum: Float = 0
        for j in 0..<V {
            let e = expf(logits[j] * invT - m)
            probabilities[j] = e
            sum += e
        }
        for j in 0..<V { probabilities[j] /= sum }
        let topK = options.topK > 0 ? min(options.topK, V) : V, topP = options.topP
        return probabilities.withUnsafeBufferPointer { p in
            order.withUnsafeMutableBufferPointer { order in
                for j in 0..<V { order[j] = Int32(j) }
                // Rank the first `ranked` tokens (by probability, then id), widening until they hold top-p's mass.
                var ranked = min(topK, 64)
                while true {
                    Self.selectTop(ranked, of: order, by: p)
                    order[0..<ranked].sort { Self.before($0, $1, p) }
                    var mass: Float = 0
                    for id in order[0..<ranked] { mass += p[Int(id)] }
                    if ranked == topK || (topP < 1 && mass >= topP) { break }
                    ranked = min(topK, ranked * 4)
                }
                var keep = ranked
                if topP < 1 {
                    var cumulative: Float = 0
                    for rank in 0..<ranked {
                        cumulative += p[Int(order[rank])]
                        if cumulative >= topP { keep = rank + 1; break }
                    }
                }
                var mass: Float = 0
                for id in order[0..<keep] { mass += p[Int(id)] }
                var r = rng.uniform() * mass
                for id in order[0..<keep] {
                    r -= p[Int(id)]
                    if r <= 0 { return id }
                }
                return order[keep - 1]
            }
        }
    }

    /// Whether token a ranks before b: higher probability, then the lower id.
    @inline(__always) static func before(_ a: Int32, _ b: Int32, _ p: UnsafeBufferPointer<Float>) -> Bool {
        p[Int(a)] > p[Int(b)] || (p[Int(a)] == p[Int(b)] && a < b)
    }

    /// Moves the `k` first tokens in ranking order into `order[0..<k]` (in no particular order):
    /// quickselect over the strict order `before`, O(V) on average.
    static func selectTop(_ k: Int, of order: UnsafeMutableBufferPointer<Int32>, by p: UnsafeBufferPointer<Float>) {
        var lo = 0, hi = order.count - 1
        guard k > 0, k < order.count else { return }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15  // pivot choice: deterministic, no RNG state consumed
        while lo < hi {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let pivot = order[lo + Int((state >> 33) % UInt64(hi - lo + 1))]
            var i = lo, j = hi
            while i <= j {
                while before(order[i], pivot, p) { i += 1 }
                while before(pivot, order[j], p) { j -= 1 }
                if i <= j { order.swapAt(i, j); i += 1; j -= 1 }
            }
            // [lo, j] rank before or with the pivot, [i, hi] after or with it
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { return }
        }
    }

    /// Index of the largest value (the first one on ties).
    public static func argmax(_ x: UnsafePointer<Float>, _ n: Int) -> Int32 {
        var best = 0
        for j in 1..<n where x[j] > x[best] { best = j }
        return Int32(best)
    }
}
