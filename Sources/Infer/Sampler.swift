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

    /// The next token from one row of `V` logits.
    public mutating func sample(_ logits: UnsafePointer<Float>, vocabulary V: Int) -> Int32 {
        if options.temperature <= 0 { return Self.argmax(logits, V) }
        if probabilities.count != V {
            probabilities = [Float](repeating: 0, count: V)
            order = (0..<Int32(V)).map { $0 }
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
        for j in 0..<V { order[j] = Int32(j) }
        let p = probabilities
        order.sort { p[Int($0)] > p[Int($1)] || (p[Int($0)] == p[Int($1)] && $0 < $1) }
        var keep = options.topK > 0 ? min(options.topK, V) : V
        if options.topP < 1 {
            var cumulative: Float = 0
            for (rank, id) in order.prefix(keep).enumerated() {
                cumulative += p[Int(id)]
                if cumulative >= options.topP { keep = rank + 1; break }
            }
        }
        var mass: Float = 0
        for id in order.prefix(keep) { mass += p[Int(id)] }
        var r = rng.uniform() * mass
        for id in order.prefix(keep) {
            r -= p[Int(id)]
            if r <= 0 { return id }
        }
        return order[keep - 1]
    }

    /// Index of the largest value (the first one on ties).
    public static func argmax(_ x: UnsafePointer<Float>, _ n: Int) -> Int32 {
        var best = 0
        for j in 1..<n where x[j] > x[best] { best = j }
        return Int32(best)
    }
}
