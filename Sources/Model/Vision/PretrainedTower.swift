import Data
import Foundation
import SafeTensors

/// A pretrained vision tower in a Hugging Face directory, to attach to a decoder
/// (`model.vision.base` in a recipe): a `CLIPVisionModel` or `SiglipVisionModel` as
/// `save_pretrained` writes it (`config.json` of `model_type` `clip_vision_model` /
/// `siglip_vision_model`, tensors `vision_model.*`), the vision half of a full `CLIPModel` /
/// `SiglipModel` (`vision_config`; its text half is left unread), or the tower of a LLaVA
/// checkpoint, with the directory's `preprocessor_config.json` when it has one.
public struct PretrainedTower: @unchecked Sendable {
    public let directory: String
    /// The tower's config (`postLayerNorm` from the weights).
    public let config: VisionConfig
    /// The image preprocessing saved with the tower.
    public let processor: ImageProcessorConfig?
    /// What the directory holds, for the log ("CLIPVisionModel", "the vision half of a CLIPModel", ...).
    public let description: String
    private let weights: SafeTensorsCheckpoint
    /// Tensors that belong to other parts of the model and are left unread (a CLIPModel's text half).
    private let others: [String]

    /// Opens `directory`; a missing or malformed file, a model type that is not a CLIP or SigLIP
    /// tower, or a bad config value is an error naming the file and the key.
    public static func open(_ directory: String) throws -> PretrainedTower {
        let path = directory + "/" + ModelDirectory.configFile
        let (_, object) = try ConfigFile.read(path)
        let type = object["model_type"] as? String ?? ""
        let vision: [String: Any], description: String, fullModel: Bool
        switch type {
        case "clip_vision_model", "siglip_vision_model":
            vision = object
            description = type == "clip_vision_model" ? "CLIPVisionModel" : "SiglipVisionModel"
            fullModel = false
        case "clip", "siglip", "llava":
            guard let sub = object["vision_config"] as? [String: Any] else {
                throw ModelError("\(path): missing required key 'vision_config' (a \(type) config names its vision tower there)")
            }
            vision = HuggingFaceDefaults.filled(sub, defaultType: type == "siglip" ? "siglip_vision_model" : "clip_vision_model")
            description = type == "llava" ? "the vision tower of a LlavaForConditionalGeneration" : "the vision half of a \(type == "clip" ? "CLIPModel" : "SiglipModel")"
            fullModel = true
        default:
            throw ModelError("\(path): 'model_type' \"\(type)\" is not a vision tower (clip_vision_model, siglip_vision_model, or a clip, siglip or llava model)")
        }
        let filled = HuggingFaceDefaults.filled(vision, defaultType: type.hasPrefix("siglip") ? "siglip_vision_model" : "clip_vision_model")
        var config = try ConfigFile.decode(VisionConfig.self, from: JSONSerialization.data(withJSONObject: filled), path: path, what: "a vision config")
        try config.validate(file: path)
        let raw = try SafeTensorsCheckpoint(directory: directory)
        let layout = WeightLayout.detect(raw.names)
        let prefix = VisionEncoder.defaultPrefix
        let weights = try raw.renaming { name in
            name.hasPrefix("vision_model.") ? "vision_tower." + name : layout.internalName(name)
        }
        guard weights.names.contains(where: { $0.hasPrefix(prefix) }) else {
            throw ModelError("\(weights.path): no tensor of a vision tower (vision_model.* or vision_tower.vision_model.*)")
        }
        config.postLayerNorm = weights.contains(prefix + "post_layernorm.weight")
        return PretrainedTower(directory: directory, config: config, processor: try ImageProcessorConfig.load(directory: directory),
                               description: description, weights: weights,
                               // a full model's other parts; a standalone tower's only extra, CLIPVisionModelWithProjection's projection
                               others: fullModel ? weights.names.filter { !$0.hasPrefix(prefix) } : ["visual_projection.weight"])
    }

    /// Copies the tower's tensors into `encoder` (built from ``config``, under the default
    /// prefix); a tensor of the tower that the encoder has no place for is an error.
    public func load(into encoder: VisionEncoder) throws {
        precondition(encoder.prefix == VisionEncoder.defaultPrefix && encoder.config == config)
        try CheckpointWeights.load([encoder.parameters], from: weights,
                                   others: others + VisionEncoder.unusedTensors.map { VisionEncoder.defaultPrefix + $0 })
    }
}
