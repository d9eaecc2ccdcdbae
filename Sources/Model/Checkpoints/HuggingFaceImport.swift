import Data
import Foundation
import Support

/// `mllm-cl convert hf`: a Hugging Face directory (LlavaForConditionalGeneration in either tensor
/// layout, or a decoder) written as this project's checkpoint: `config.json` with this project's
/// keys, the weights under this project's names (``WeightLayout/native``),
/// `preprocessor_config.json`, the tokenizer's files and `generation_config.json`.
public enum HuggingFaceImport {
    /// Converts `directory` into `out`; returns a one-line summary. `mergeLoRA`: write the model
    /// with its LoRA merged into the base weights (and no LoRA tensors).
    public static func convert(directory: String, to out: String, mergeLoRA: Bool = false) throws -> String {
        var loaded = try LoadedModel(directory: directory)
        if mergeLoRA { loaded = try loaded.mergingLoRA(source: directory) }
        let layout = WeightLayout.detect(try CheckpointWeights.names(directory: directory))
        try OutputPath.createDirectory(out)
        try loaded.model.save(to: out, metadata: ["converted_from": (directory as NSString).lastPathComponent])
        try loaded.tokenizer.save(into: out)
        try loaded.generation?.save(into: out)
        let c = loaded.decoder.config
        var summary = "\(c.modelType) decoder, \(c.numHiddenLayers) layers x \(c.hiddenSize), vocab \(c.vocabSize)"
        if let m = loaded.multimodal {
            let v = m.config.visionConfig
            summary += "; \(v.modelType) tower \(v.imageSize) px, patch \(v.patchSize), \(v.numHiddenLayers) layers, \(v.hiddenAct.rawValue); "
                + "projector \(m.config.projectorHiddenAct.rawValue); \(m.imageTokens) visual tokens per image; tensors read in the \(layout.rawValue) layout"
        }
        return summary + "; \(loaded.model.parameterCount) parameters"
    }
}
