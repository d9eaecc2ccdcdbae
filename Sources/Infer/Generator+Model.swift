import Model

extension Generator {
    /// `prompt` continued by `model` as `mllm-cl generate` does: the prompt's ids as the
    /// tokenizer builds them, generation until one of the model's stop tokens (``StopTokens``)
    /// or `maxNewTokens`. `onText` sees the prompt's text, then the text each token releases.
    public static func complete(_ model: LoadedModel, prompt: GenerationPrompt, maxNewTokens: Int, options: SamplingOptions,
                                onText: @escaping (String) -> Void) throws -> GenerationRecord {
        guard maxNewTokens >= 1 else { throw InferError("--max-new-tokens must be at least 1 (got \(maxNewTokens))") }
        let tokenizer = model.tokenizer, ids = try prompt.ids(tokenizer)
        try check(ids, maxNewTokens: maxNewTokens, model.decoder)
        let shown = tokenizer.bosID.map { ids.first == $0 } == true ? Array(ids.dropFirst()) : ids
        var stream = TextStream(tokenizer, ids: shown)
        onText(stream.text)
        let generation = try generate(model.decoder, prompt: ids, maxNewTokens: maxNewTokens, options: options,
                                      stopTokens: model.stopTokens) { onText(stream.append($0)) }
        onText(stream.finish())
        return GenerationRecord(promptIDs: ids, generation: generation,
                                text: TextStream.completion(tokenizer, prompt: shown, new: generation.content))
    }
}
