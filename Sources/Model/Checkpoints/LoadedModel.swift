import Foundation
import Tokenizer

/// A model directory as every command opens it: the weights (`AnyModel`: a decoder alone or
/// a multimodal model) and the tokenizer beside them. The one loader `eval`, `infer`,
/// `generate` and a resumed `train` share.
public struct LoadedModel: @unchecked Sendable {
    public let model: AnyModel
    public let tokenizer: any TextTokenizer
    /// `generation_config.json`, when the directory has one.
    public let generation: GenerationConfig?

    /// Loads `directory` (`config.json`, `model.safetensors`, `tokenizer.model` or `tokenizer.json`); each missing or
    /// malformed file is an error naming it, and so is a tokenizer with more ids than the
    /// embedding has rows. `languageModelOnly`: of a multimodal checkpoint, load the decoder
    /// alone (text-only evaluation and generation need nothing else). `precision`: the format
    /// cached inference reads the decoder's matrices in (``WeightPrecision``).
    public init(directory: String, languageModelOnly: Bool = false, precision: WeightPrecision = .f32) throws {
        tokenizer = try TokenizerFiles.load(directory: directory)
        generation = try GenerationConfig.load(directory: directory)
        model = languageModelOnly ? .text(try ModelDirectory.loadDecoder(directory)) : try AnyModel.load(directory)
        try ModelDirectory.checkVocabulary(tokenizer, vocabSize: model.decoder.config.vocabSize, directory: directory)
        model.decoder.useInferencePrecision(precision)
    }

    /// The same tokenizer and generation config around another model (a merged one).
    public init(model: AnyModel, tokenizer: any TextTokenizer, generation: GenerationConfig?) {
        self.model = model
        self.tokenizer = tokenizer
        self.generation = generation
    }

    /// The model with its LoRA merged into the weights (``DecoderModel/mergingLoRA()``): an error when it has none.
    public func mergingLoRA(source: String) throws -> LoadedModel {
        guard let merged = model.mergingLoRA() else { throw ModelError("\(source)/config.json: --merge-lora: the model has no LoRA ('lora')") }
        return LoadedModel(model: merged, tokenizer: tokenizer, generation: generation)
    }

    /// The ids generation stops on (``StopTokens``).
    public var stopTokens: Set<Int32> { StopTokens.of(tokenizer: tokenizer, config: decoder.config, generation: generation) }

    public var decoder: DecoderModel { model.decoder }
    public var multimodal: MultimodalModel? { model.multimodal }
}
