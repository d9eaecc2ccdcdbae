import Model
import Tensor
import TestSupport
import Testing

struct KVCacheTests {
    /// Decoding in chunks against the cache gives the logits of one full causal forward pass.
    @Test func cachedForwardMatchesFullForward() {
        let config = DecoderConfig(modelType: "qwen2", hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
                                   intermediateSize: 24, vocabSize: 13, maxPositionEmbeddings: 32)
        let decoder = DecoderModel(config: config)
        decoder.initialize(seed: 5, std: 0.2)
        var rng = SeededGenerator(seed: 9)
        let B = 2, T = 9, V = config.vocabSize
        let tokens = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(V)) }
        let acts = DecoderActivations(config: config, batch: B, sequence: T)
        acts.setBatch(tokens: tokens, targets: tokens)
        decoder.forward(acts)

        let cache = KVCache(config: config, batch: B, capacity: T, chunk: 4)
        var start = 0
        for n in [4, 1, 4] {
            let chunk = (0..<B).flatMap { b in tokens[(b * T + start)..<(b * T + start + n)] }
            let logits = decoder.forward(newTokens: Array(chunk), cache: cache)
            for b in 0..<B {
                for t in 0..<n {
                    for v in 0..<V {
                        let full = acts.logits[(b * T + start + t) * V + v], cached = logits[(b * n + t) * V + v]
                        #expect(abs(full - cached) < 1e-4, "b \(b) position \(start + t)")
                    }
                }
            }
            start += n
        }
        #expect(cache.length == T)
    }
}
