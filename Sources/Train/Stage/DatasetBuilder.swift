import Data
import Foundation
import Model
import Tokenizer

/// Builds the datasets of a run's stages: the one place a `StageDataset` is made, from a list of
/// sources and how to render them, with the run's tokenizer, a stage's sequence length and,
/// for a multimodal stage, how images become visual-token slots.
struct DatasetBuilder {
    let tokenizer: any TextTokenizer
    let sequenceLength: Int
    /// How a multimodal stage's images are prepared and spliced (nil: text only).
    let vision: StageDataset.Vision?
    /// Relative data paths start here (the working directory).
    let baseDirectory = FileManager.default.currentDirectoryPath

    /// `sources`, rendered with `template` (nil: the model's chat template, else ChatML) and `system`.
    func dataset(_ sources: [DataSource], template: ChatTemplate?, system: String? = nil, skipBadSamples: Bool = false) throws -> StageDataset {
        try StageDataset(sources: sources, baseDirectory: baseDirectory, tokenizer: tokenizer, template: template, system: system,
                         sequenceLength: sequenceLength, skipBadSamples: skipBadSamples, vision: vision)
    }

    /// A stage's training data as the stage renders it.
    func dataset(of stage: Stage) throws -> StageDataset {
        try dataset(stage.data, template: stage.template, system: stage.systemPrompt, skipBadSamples: stage.skipBadSamples)
    }

    /// The same factory with a multimodal model's image handling, or text only (nil).
    func with(vision model: MultimodalModel?) -> DatasetBuilder {
        DatasetBuilder(tokenizer: tokenizer, sequenceLength: sequenceLength, vision: model.map(StageDataset.Vision.init(model:)))
    }

    /// The text-only samples of `data` (rendered with `template`) or, without it, of every stage in
    /// `earlier`, each as that stage renders it; an error naming `key` when there are none.
    func textOnlyPool(_ data: [DataSource]?, template: ChatTemplate?, earlier: [Stage], key: String) throws -> [Sample] {
        let datasets = try data.map { [try dataset($0, template: template)] } ?? earlier.map { try dataset(of: $0) }
        let pool = datasets.flatMap { $0.sources.joined().filter { $0.image == nil } }
        guard !pool.isEmpty else { throw TrainError("\(key): \(data == nil ? "the earlier stages have" : "'\(key).data' has") no text-only samples") }
        return pool
    }
}

extension StageDataset.Vision {
    /// How `model`'s images are prepared and spliced: its preprocessing (`MultimodalConfig.imagePreprocessor`), its
    /// `<image>` id and visual tokens per image.
    init(model m: MultimodalModel) {
        self.init(preprocessor: m.config.imagePreprocessor,
                  imageToken: Int32(m.config.imageTokenIndex), tokensPerImage: m.imageTokens)
    }
}
