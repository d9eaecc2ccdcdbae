import Data
import Model
import Tokenizer

extension Generator {
    /// `prompt` continued by `model` as `mllm-cl generate` does: the prompt's ids as the
    /// tokenizer builds them, generation until one of the model's stop tokens (``StopTokens``)
    /// or `maxNewTokens`. `onText` sees the prompt's text, then the text each token releases.
    /// With `image` (a multimodal model), the prompt's `<image>` (put first when it has none)
    /// is expanded into the tower's visual-token slots, as the LLaVA processor expands it, and
    /// the record's `prompt_ids` are the expanded ids.
    public static func complete(_ model: LoadedModel, prompt: GenerationPrompt, image: String? = nil, maxNewTokens: Int,
                                options: SamplingOptions, onText: @escaping (String) -> Void) throws -> GenerationRecord {
        guard maxNewTokens >= 1 else { throw InferError("--max-new-tokens must be at least 1 (got \(maxNewTokens))") }
        try options.validate()
        let tokenizer = model.tokenizer
        var ids = try (image == nil ? prompt : prompt.withImagePlaceholder).ids(tokenizer)
        var encoded: ImagePrompt?
        if let image {
            guard let m = model.multimodal else {
                throw InferError("--image needs a multimodal model (config.json with text_config and vision_config)")
            }
            encoded = try ImagePrompt(m, ids: ids, image: image, moe: true)
            ids = encoded!.ids
        }
        try check(ids, maxNewTokens: maxNewTokens, model.decoder)
        var shown = tokenizer.bosID.map { ids.first == $0 } == true ? Array(ids.dropFirst()) : ids
        if let encoded { shown = encoded.collapsed(shown) }
        var stream = TextStream(tokenizer, ids: shown)
        onText(stream.text)
        let generation = try withExtendedLifetime(encoded) {
            try generate(model.decoder, prompt: ids, visual: encoded?.visual, maxNewTokens: maxNewTokens, options: options,
                         stopTokens: model.stopTokens) { onText(stream.append($0)) }
        }
        onText(stream.finish())
        return GenerationRecord(promptIDs: ids, generation: generation,
                                text: TextStream.completion(tokenizer, prompt: shown, new: generation.content))
    }
}

extension GenerationPrompt {
    /// The prompt with `<image>` in front when it has none (text and chat prompts; ids are given as they are).
    var withImagePlaceholder: GenerationPrompt {
        switch self {
        case .text(let t): t.contains(SpecialTokens.image) ? self : .text(SpecialTokens.image + "\n" + t)
        case .chat(let m, let f): m.contains(SpecialTokens.image) ? self : .chat(SpecialTokens.image + "\n" + m, f)
        case .ids: self
        }
    }
}

/// One image prompt of a multimodal model: its ids with the one `<image>` expanded into the
/// tower's visual-token slots, and the image's visual tokens placed on them (the buffers kept
/// alive with it).
struct ImagePrompt {
    let ids: [Int32]
    let visual: VisualTokens
    private let encoding: ImageEncoding

    init(_ m: MultimodalModel, ids prompt: [Int32], image: String, moe: Bool) throws {
        let imageToken = Int32(m.config.imageTokenIndex), F = m.imageTokens
        let placeholders = prompt.filter { $0 == imageToken }.count
        guard placeholders == 1 else {
            throw InferError("an image prompt needs exactly one \(SpecialTokens.image) placeholder (id \(imageToken)); this one has \(placeholders)")
        }
        ids = ImagePlaceholders.expand(prompt, imageToken: imageToken, count: F)
        encoding = m.makeImageEncoding(images: 1, maxGuidance: ids.count, routedOneByOne: true)
        let decoded: RGBImage
        do { decoded = try ImageDecoder.decode(path: image) } catch { throw InferError("--image: \(error)") }
        m.config.imagePreprocessor.process(decoded, into: encoding.vision.pixels.data)
        let guidance: ParrotGuidance? = moe && m.moe != nil ? .prompts([ids]) : nil
        let tokens = m.visualTokens(encoding, guidance: guidance).tokens
        let placement = ids.withUnsafeBufferPointer {
            VisualTokens.placement(image: 0, tokensPerImage: F, imageToken: imageToken, in: $0, rowOffset: 0)
        }
        visual = VisualTokens(tokens: tokens, placement: placement)
        self.imageToken = m.config.imageTokenIndex
    }

    private let imageToken: Int

    /// `ids` with each run of image placeholders shown as one `<image>` (for the echoed prompt).
    func collapsed(_ ids: [Int32]) -> [Int32] {
        ids.enumerated().filter { i, t in Int(t) != imageToken || i == 0 || ids[i - 1] != t }.map(\.element)
    }
}
