import Foundation
import Tokenizer

/// A model directory as every command opens it: the weights (`AnyModel`: a decoder alone or
/// a multimodal model) and the tokenizer beside them. The one loader `eval`, `infer`,
/// `generate` and a resumed `train` share.
public struct LoadedModel: @unchecked Sendable {
    public let model: AnyModel
    public let tokenizer: any TextTokenizer

    /// Loads `directory` (`config.json`, `model.safetensors`, `tokenizer.model` or `tokenizer.json`); each missing or
    /// malformed file is an error naming it. `languageModelOnly`: of a multimodal checkpoint, load
    /// the decoder alone (text-only evaluation and generation need nothing else).
    public init(directory: String, languageModelOnly: Bool = false) throws {
        model = languageModelOnly ? .text(try ModelDirectory.loadDecoder(directory)) : try AnyModel.load(directory)
        tokenizer = try TokenizerFiles.load(directory: directory)
    }

    public var decoder: DecoderModel { model.decoder }
    public var multimodal: MultimodalModel? { model.multimodal }
}
