import Foundation
import Model
import Tensor

/// Why a sequence stopped: a stop token (`stop`) or the token limit (`length`).
public enum FinishReason: String, Codable, Sendable {
    case stop, length
}

/// What one generation produced.
public struct Generation: Sendable, Equatable {
    /// The new ids, ending with the stop token when one ended generation (as transformers'
    /// `generate` returns them).
    public var tokens: [Int32]
    public var finishReason: FinishReason
    /// The new ids without the stop token (what the text is made of).
    public var content: [Int32] { finishReason == .stop ? Array(tokens.dropLast()) : tokens }

    public init(tokens: [Int32], finishReason: FinishReason) {
        self.tokens = tokens
        self.finishReason = finishReason
    }
}

/// Autoregressive generation with a KV cache.
public enum Generator {
    /// Continues `prompt` (ids, BOS included if wanted) by up to `maxNewTokens` tokens, stopping
    /// early at any of `stopTokens`. `onToken` sees each new token but the stop token.
    /// `visual`: visual tokens spliced into the prompt's rows (an image prompt, ``ImagePrompt``).
    public static func generate(_ decoder: DecoderModel, prompt: [Int32], visual: VisualTokens? = nil, maxNewTokens: Int,
                                options: SamplingOptions = .init(), stopTokens: Set<Int32> = [], onToken: ((Int32) -> Void)? = nil) throws -> Generation {
        try check(prompt, maxNewTokens: maxNewTokens, decoder)
        let V = decoder.config.vocabSize
        let cache = try decoder.makeCache(batch: 1, capacity: prompt.count + maxNewTokens, chunk: min(prompt.count, KVCache.prefillChunk),
                                          remedy: "lower --max-new-tokens or shorten the prompt")
        var sampler = Sampler(options)
        var logits = decoder.prefill(prompt, rowsPerSequence: prompt.count, cache: cache, visual: visual).logits
        var out: [Int32] = []
        for _ in 0..<maxNewTokens {
            let last = logits.data + (logits.rowCount - 1) * V
            let next = sampler.sample(last, vocabulary: V)
            out.append(next)
            if stopTokens.contains(next) { return Generation(tokens: out, finishReason: .stop) }
            onToken?(next)
            if out.count == maxNewTokens { break }
            logits = decoder.forward(newTokens: [next], cache: cache)
        }
        return Generation(tokens: out, finishReason: .length)
    }

    /// Throws unless `prompt` is non-empty, its ids are in the vocabulary and it fits the context with `maxNewTokens` more.
    public static func check(_ prompt: [Int32], maxNewTokens: Int, _ decoder: DecoderModel) throws {
        guard !prompt.isEmpty else { throw ModelError("generation needs at least one prompt token (BOS)") }
        let c = decoder.config
        if let bad = prompt.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw ModelError("prompt id \(bad) is outside the model's vocabulary of \(c.vocabSize)")
        }
        guard maxNewTokens >= 0, prompt.count + maxNewTokens <= c.maxPositionEmbeddings else {
            throw ModelError("prompt (\(prompt.count) tokens) plus \(maxNewTokens) new tokens exceeds the model's context of \(c.maxPositionEmbeddings)")
        }
    }
}
