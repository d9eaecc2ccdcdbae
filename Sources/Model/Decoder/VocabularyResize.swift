import Tensor

extension DecoderModel {
    /// A copy of this decoder with `size` vocabulary rows. New rows of the embedding (and of
    /// an untied head) start at the mean of the existing rows, as Hugging Face's
    /// `resize_token_embeddings` does by default, so new tokens begin as "an average token".
    public func resizingVocabulary(to size: Int) -> DecoderModel {
        precondition(size >= config.vocabSize, "vocabulary can only grow")
        var c = config
        c.vocabSize = size
        let grown = DecoderModel(config: c)
        for (i, p) in parameters.table.enumerated() {
            let src = parameters.value(at: i), dst = grown.parameters.value(p.name)
            guard p.name == "model.embed_tokens.weight" || p.name == "lm_head.weight" else {
                dst.copy(from: src)
                continue
            }
            let C = p.shape[1], V = p.shape[0]
            dst.data.update(from: src.data, count: V * C)
            var mean = [Double](repeating: 0, count: C)
            for v in 0..<V { for j in 0..<C { mean[j] += Double(src[v * C + j]) } }
            for v in V..<size { for j in 0..<C { dst[v * C + j] = Float(mean[j] / Double(V)) } }
        }
        return grown
    }
}
