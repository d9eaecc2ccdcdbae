import Tensor

extension DecoderModel {
    /// The mean over `ids` of the final hidden states (after the final norm, the rows lm_head
    /// reads): a text's feature as the language model sees it (GMM compares class names by it).
    /// `ids` run as one sequence; empty ids give nil.
    public func meanHiddenState(_ ids: [Int32]) throws -> [Float]? {
        guard !ids.isEmpty else { return nil }
        let cache = try makeCache(batch: 1, capacity: ids.count, chunk: min(ids.count, KVCache.prefillChunk))
        var sum = [Double](repeating: 0, count: config.hiddenSize)
        for start in stride(from: 0, to: ids.count, by: cache.chunk) {
            let chunk = Array(ids[start..<min(ids.count, start + cache.chunk)])
            _ = forward(newTokens: chunk, cache: cache)
            let C = config.hiddenSize
            for r in 0..<chunk.count { for j in 0..<C { sum[j] += Double(cache.lnf.data[r * C + j]) } }
        }
        return sum.map { Float($0 / Double(ids.count)) }
    }

    /// The mean of `ids`' input embeddings (rows of embed_tokens); empty ids give nil.
    public func meanEmbedding(_ ids: [Int32]) -> [Float]? {
        guard !ids.isEmpty else { return nil }
        let table = embeddingTable, C = config.hiddenSize
        var sum = [Double](repeating: 0, count: C)
        for id in ids { for j in 0..<C { sum[j] += Double(table.data[Int(id) * C + j]) } }
        return sum.map { Float($0 / Double(ids.count)) }
    }
}

/// cos(a, b) in Double; 0 when either is zero.
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in a.indices { dot += Double(a[i]) * Double(b[i]); na += Double(a[i]) * Double(a[i]); nb += Double(b[i]) * Double(b[i]) }
    return na > 0 && nb > 0 ? dot / (na.squareRoot() * nb.squareRoot()) : 0
}
