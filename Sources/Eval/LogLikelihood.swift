import Foundation
import Model
import Tensor

/// Log-likelihoods of continuations under a decoder. Each context runs once into a KV cache;
/// its continuations then run together as one batch that starts from a copy of that prefix.
public final class LogLikelihood {
    /// What gives way when context + continuation exceed the model's context.
    public enum Truncation: String, Codable, Sendable, CaseIterable {
        /// Drop context tokens from the left (lm-evaluation-harness); every continuation token is scored.
        case left
        /// Keep the first `maxLength` tokens and score only the continuation tokens among them
        /// (a continuation past the window scores 0), as a plain `(context + continuation)[:max]` does.
        case right
    }

    public let decoder: DecoderModel
    public let truncation: Truncation
    /// The longest sequence scored (the model's context).
    public let maxLength: Int
    static let chunk = KVCache.prefillChunk
    /// The smallest cache made: capacities double from here up to `maxLength`.
    static let initialCapacity = 256
    /// Caches by batch size (1: the prefix), each as long as the longest sequence scored so far
    /// needed: memory follows the items, not the model's context (which may be 10^5 positions).
    private var caches: [Int: KVCache] = [:]

    public init(decoder: DecoderModel, truncation: Truncation = .left) {
        self.decoder = decoder
        self.truncation = truncation
        maxLength = decoder.config.maxPositionEmbeddings
    }

    /// A cache for `batch` sequences of at least `length` positions: the one kept, or a new one of
    /// twice the capacity (at most `maxLength`) when it is too short.
    private func cache(batch: Int, length: Int) throws -> KVCache {
        if let c = caches[batch], c.capacity >= length { return c }
        var capacity = max(caches[batch]?.capacity ?? Self.initialCapacity, Self.initialCapacity)
        while capacity < length { capacity *= 2 }
        caches[batch] = nil  // released before the larger one is allocated
        let c = try decoder.makeCache(batch: batch, capacity: min(capacity, maxLength), chunk: Self.chunk,
                                      remedy: "shorten the suite's questions or use a model with a shorter max_position_embeddings")
        caches[batch] = c
        return c
    }

    /// Σ log p(continuation | context) for each continuation. When context + continuation is
    /// longer than the model's context, `truncation` decides what is dropped.
    /// `visual` places visual tokens at context positions (image tokens); left truncation keeps
    /// them aligned.
    public func score(context: [Int32], continuations fullContinuations: [[Int32]], visual: VisualTokens? = nil) throws -> [Double] {
        precondition(!context.isEmpty && fullContinuations.allSatisfy { !$0.isEmpty }, "empty context or continuation")
        let ctx: [Int32], continuations: [[Int32]]
        var dropped = 0
        switch truncation {
        case .left:
            continuations = fullContinuations.map { Array($0.suffix(maxLength - 1)) }
            // The last continuation token is only predicted, never read: context + continuation − 1 ≤ maxLength.
            ctx = Array(context.suffix(max(1, maxLength + 1 - continuations.map(\.count).max()!)))
            dropped = context.count - ctx.count
        case .right:
            let room = maxLength - context.count
            guard room > 0 else { return fullContinuations.map { _ in 0 } }
            ctx = context
            continuations = fullContinuations.map { Array($0.prefix(room)) }
        }
        let longest = continuations.map(\.count).max()!
        let V = decoder.config.vocabSize

        // The prefix, in chunks; the last row predicts every continuation's first token.
        let prefix = try cache(batch: 1, length: ctx.count)
        prefix.reset()
        var logits: Tensor?
        for start in stride(from: 0, to: ctx.count, by: Self.chunk) {
            let end = min(ctx.count, start + Self.chunk)
            logits = decoder.forward(newTokens: Array(ctx[start..<end]), cache: prefix, visual: visual?.chunk((start + dropped)..<(end + dropped)))
        }
        guard let logits else { preconditionFailure("a non-empty context yields logits") }
        let first = Self.logSoftmax(logits.data + (logits.rowCount - 1) * V, V)
        var scores = continuations.map { first[Int($0[0])] }
        guard longest > 1 else { return scores }

        // The continuations (all but their last tokens) as one batch over copies of the prefix.
        let B = continuations.count
        let cache = try cache(batch: B, length: ctx.count + longest - 1)
        cache.broadcastPrefix(from: prefix, count: ctx.count)
        let inputs = longest - 1
        for start in stride(from: 0, to: inputs, by: Self.chunk) {
            let n = min(Self.chunk, inputs - start)
            var tokens = [Int32](repeating: 0, count: B * n)
            for (b, c) in continuations.enumerated() {
                for t in 0..<n { tokens[b * n + t] = c[min(start + t, c.count - 1)] }  // padding repeats the last token
            }
            let out = decoder.forward(newTokens: tokens, cache: cache)
            for (b, c) in continuations.enumerated() {
                for t in 0..<n where start + t + 1 < c.count {
                    let row = Self.logSoftmax(out.data + (b * n + t) * V, V)
                    scores[b] += row[Int(c[start + t + 1])]
                }
            }
        }
        return scores
    }

    /// log softmax of one row, in Double.
    static func logSoftmax(_ x: UnsafePointer<Float>, _ n: Int) -> [Double] {
        var m = -Double.infinity
        for j in 0..<n { m = max(m, Double(x[j])) }
        var s = 0.0
        for j in 0..<n { s += exp(Double(x[j]) - m) }
        let lse = m + log(s)
        return (0..<n).map { Double(x[$0]) - lse }
    }
}
