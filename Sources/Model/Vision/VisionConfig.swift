import Foundation
import Tensor

/// A CLIP/SigLIP-style vision transformer, as a Hugging Face `vision_config` describes it
/// (`CLIPVisionConfig` / `SiglipVisionConfig` keys). Absent keys take transformers' class
/// defaults (``HuggingFaceDefaults``); `hidden_act` defaults to `quick_gelu` for CLIP and
/// `gelu_pytorch_tanh` for SigLIP, as there.
public struct VisionConfig: Codable, Sendable, Equatable {
    /// `clip_vision_model` (class token, pre-LayerNorm) or `siglip_vision_model` (neither; patch bias).
    public var modelType: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var imageSize: Int
    public var patchSize: Int
    public var numChannels: Int
    public var layerNormEps: Float
    /// The MLP's activation (`hidden_act`).
    public var hiddenAct: Activation
    /// Whether the tower has its final LayerNorm (`post_layernorm`): Hugging Face's towers do, and
    /// apply it to the pooled output (CLIP) or the last hidden state (SigLIP), never to the hidden
    /// states LLaVA selects. Not a config key: set from the weights when a checkpoint is read
    /// (this project's own towers before it had none).
    public var postLayerNorm: Bool

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case modelType = "model_type", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads", imageSize = "image_size"
        case patchSize = "patch_size", numChannels = "num_channels", layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
    }

    public init(modelType: String = "clip_vision_model", hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
                numAttentionHeads: Int, imageSize: Int, patchSize: Int, numChannels: Int = 3, layerNormEps: Float = 1e-5,
                hiddenAct: Activation? = nil, postLayerNorm: Bool = false) {
        self.modelType = modelType
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.numChannels = numChannels
        self.layerNormEps = layerNormEps
        self.hiddenAct = hiddenAct ?? Self.defaultActivation(modelType)
        self.postLayerNorm = postLayerNorm
    }

    /// transformers' default `hidden_act`: `quick_gelu` (CLIPVisionConfig), `gelu_pytorch_tanh` (SiglipVisionConfig).
    static func defaultActivation(_ modelType: String) -> Activation { modelType.hasPrefix("siglip") ? .geluTanh : .quickGELU }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "clip_vision_model"
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        imageSize = try c.decode(Int.self, forKey: .imageSize)
        patchSize = try c.decode(Int.self, forKey: .patchSize)
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? 3
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? (modelType.hasPrefix("siglip") ? 1e-6 : 1e-5)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct).map { try Activation.configValue($0, key: "vision_config: 'hidden_act'") }
            ?? Self.defaultActivation(modelType)
        postLayerNorm = false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(imageSize, forKey: .imageSize)
        try c.encode(patchSize, forKey: .patchSize)
        try c.encode(numChannels, forKey: .numChannels)
        try c.encode(layerNormEps, forKey: .layerNormEps)
        try c.encode(hiddenAct, forKey: .hiddenAct)
    }

    /// CLIP: a class token, LayerNorm before the blocks, no patch-embedding bias. SigLIP: none of these.
    public var hasClassToken: Bool { !modelType.hasPrefix("siglip") }
    public var patchesPerSide: Int { imageSize / patchSize }
    public var patchCount: Int { patchesPerSide * patchesPerSide }
    /// Tokens per image entering the blocks (patches, plus the class token).
    public var positions: Int { patchCount + (hasClassToken ? 1 : 0) }
    public var headSize: Int { hiddenSize / numAttentionHeads }

    public func validate(file: String) throws {
        func fail(_ why: String) -> ModelError { ModelError("\(file): vision_config: \(why)") }
        for (key, v) in [("hidden_size", hiddenSize), ("intermediate_size", intermediateSize), ("num_hidden_layers", numHiddenLayers),
                         ("num_attention_heads", numAttentionHeads), ("image_size", imageSize), ("patch_size", patchSize)] where v <= 0 {
            throw fail("'\(key)' must be positive, got \(v)")
        }
        guard ["clip_vision_model", "siglip_vision_model"].contains(modelType) else {
            throw fail("'model_type' \"\(modelType)\" is not clip_vision_model or siglip_vision_model")
        }
        try checkSizes(file: file)
        guard layerNormEps.isFinite, layerNormEps > 0 else { throw fail("'layer_norm_eps' must be positive, got \(layerNormEps)") }
        guard imageSize % patchSize == 0 else { throw fail("'image_size' \(imageSize) is not a multiple of 'patch_size' \(patchSize)") }
        guard hiddenSize % numAttentionHeads == 0 else { throw fail("'hidden_size' is not divisible by 'num_attention_heads'") }
        guard numChannels == 3 else { throw fail("'num_channels' must be 3 (RGB)") }
    }
}

extension Activation {
    /// The activation a config.json names at `key`; an unknown name is an error listing the known ones.
    static func configValue(_ name: String, key: String) throws -> Activation {
        guard let a = Activation(huggingFace: name) else {
            throw ModelError("\(key) \"\(name)\" is not one of \(huggingFaceNames.joined(separator: ", "))")
        }
        return a
    }
}
