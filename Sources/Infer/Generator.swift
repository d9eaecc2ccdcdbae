import Foundation
import Model
import Tensor

/// Autoregressive generation with a KV cache.
public enum Generator {
    /// Continues `prompt` (ids, BOS included if wanted) by up to `maxNewTokens` tokens, stopping
    /// early at any of `stopTokens` (not included in the result). `onToken` sees each new token.
    /// Returns the new tokens.
    public static func generate(_ decoder: DecoderModel, prompt: [Int32], maxNewTokens: Int, options: SamplingOptions = .init(),
                                stopTokens: Set<Int32> = [], onToken: ((Int32) -> Void)? = nil) throws -> [Int32] {
        guard !prompt.isEmpty else { throw ModelError("generation needs at least one prompt token (BOS)") }
        let capacity = prompt.count + maxNewTokens
        guard capacity <= decoder.config.maxPositionEmbeddings else {
            throw ModelError("prompt (\(prompt.count) tokens) plus \(maxNewTokens) new tokens exceeds the model's context of \(decoder.config.maxPositionEmbeddings)")
        }
        let cache = decoder.makeCache(batch: 1, capacity: capacity)
        var sampler = Sampler(options)
        let V = decoder.config.vocabSize
        var logits = decoder.forward(newTokens: prompt, cache: cache)
        var out: [Int32] = []
        for _ in 0..<maxNewTokens {
            let last = logits.data + (logits.rowCount - 1) * V
            let next = sampler.sample(last, vocabulary: V)
            if stopTokens.contains(next) { break }
            out.append(next)
            onToken?(next)
            if out.count == maxNewTokens { break }
            logits = decoder.forward(newTokens: [next], cache: cache)
        }
        return out
    }
}
