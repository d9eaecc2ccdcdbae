import Foundation
import Tokenizer

/// A model directory as every command opens it: the weights (`TrainedModel`: a decoder alone or
/// a multimodal model) and the tokenizer beside them. The one loader `eval`, `infer`,
/// `generate` and a resumed `train` share.
public struct LoadedModel: @unchecked Sendable {
    public let directory: String
    public let model: TrainedModel
    public let tokenizer: SentencePieceTokenizer

    /// Loads `directory` (`config.json`, `model.safetensors`, `tokenizer.model`); each missing or
    /// malformed file is an error naming it.
    public init(directory: String) throws {
        self.directory = directory
        model = try TrainedModel.load(directory)
        tokenizer = try SentencePieceTokenizer(path: directory + "/" + ModelDirectory.tokenizerFile)
    }

    public var decoder: DecoderModel { model.decoder }
    public var multimodal: MultimodalModel? { model.multimodal }
}
