import Foundation
/// A LLaVA-style model's `config.json`: the decoder (`text_config`), the vision tower
/// (`vision_config`) and how they connect (Hugging Face `LlavaConfig` keys, plus LLaVA's
/// `mm_projector_type`).
public struct MultimodalConfig: Codable, Sendable, Equatable {
    public var textConfig: DecoderConfig
    public var visionConfig: VisionConfig
    public var projectorType: Projector.Kind
    /// Index into the tower's hidden states (−2: the second-to-last, LLaVA's default).
    public var visionFeatureLayer: Int
    /// `default` drops the class token (LLaVA's `patch`); `full` keeps it (`cls_patch`).
    public var visionFeatureSelectStrategy: String
    /// The `<image>` placeholder's token id.
    public var imageTokenIndex: Int
    /// Pixel normalisation of the vision tower (CLIP's by default).
    public var imageMean: [Float]
    public var imageStd: [Float]
    /// Parrot's mixture of experts on the visual tokens, when attached (this project's key).
    public var parrot: ParrotConfig?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case modelType = "model_type", architectures, textConfig = "text_config", visionConfig = "vision_config"
        case projectorType = "mm_projector_type", visionFeatureLayer = "vision_feature_layer"
        case visionFeatureSelectStrategy = "vision_feature_select_strategy", imageTokenIndex = "image_token_index"
        case imageMean = "image_mean", imageStd = "image_std", parrot
    }

    public init(textConfig: DecoderConfig, visionConfig: VisionConfig, projectorType: Projector.Kind = .mlp2xGELU,
                visionFeatureLayer: Int = -2, visionFeatureSelectStrategy: String = "default", imageTokenIndex: Int,
                imageMean: [Float] = [0.48145466, 0.4578275, 0.40821073], imageStd: [Float] = [0.26862954, 0.26130258, 0.27577711]) {
        self.textConfig = textConfig
        self.visionConfig = visionConfig
        self.projectorType = projectorType
        self.visionFeatureLayer = visionFeatureLayer
        self.visionFeatureSelectStrategy = visionFeatureSelectStrategy
        self.imageTokenIndex = imageTokenIndex
        self.imageMean = imageMean
        self.imageStd = imageStd
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        textConfig = try c.decode(DecoderConfig.self, forKey: .textConfig)
        visionConfig = try c.decode(VisionConfig.self, forKey: .visionConfig)
        projectorType = try c.decodeIfPresent(Projector.Kind.self, forKey: .projectorType) ?? .mlp2xGELU
        visionFeatureLayer = try c.decodeIfPresent(Int.self, forKey: .visionFeatureLayer) ?? -2
        visionFeatureSelectStrategy = try c.decodeIfPresent(String.self, forKey: .visionFeatureSelectStrategy) ?? "default"
        imageTokenIndex = try c.decode(Int.self, forKey: .imageTokenIndex)
        imageMean = try c.decodeIfPresent([Float].self, forKey: .imageMean) ?? [0.48145466, 0.4578275, 0.40821073]
        imageStd = try c.decodeIfPresent([Float].self, forKey: .imageStd) ?? [0.26862954, 0.26130258, 0.27577711]
        parrot = try c.decodeIfPresent(ParrotConfig.self, forKey: .parrot)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("llava", forKey: .modelType)
        try c.encode(["LlavaForConditionalGeneration"], forKey: .architectures)
        try c.encode(textConfig, forKey: .textConfig)
        try c.encode(visionConfig, forKey: .visionConfig)
        try c.encode(projectorType, forKey: .projectorType)
        try c.encode(visionFeatureLayer, forKey: .visionFeatureLayer)
        try c.encode(visionFeatureSelectStrategy, forKey: .visionFeatureSelectStrategy)
        try c.encode(imageTokenIndex, forKey: .imageTokenIndex)
        try c.encode(imageMean, forKey: .imageMean)
        try c.encode(imageStd, forKey: .imageStd)
        try c.encodeIfPresent(parrot, forKey: .parrot)
    }

    public func validate(file: String) throws {
        try textConfig.validate(file: file + " (text_config)")
        try visionConfig.validate(file: file)
        guard ["default", "full"].contains(visionFeatureSelectStrategy) else {
            throw ModelError("\(file): 'vision_feature_select_strategy' must be default (patch tokens) or full (class token too)")
        }
        let layers = visionConfig.numHiddenLayers
        guard (-(layers + 1)...layers).contains(visionFeatureLayer) else {
            throw ModelError("\(file): 'vision_feature_layer' \(visionFeatureLayer) is outside -\(layers + 1)...\(layers)")
        }
        guard (0..<textConfig.vocabSize).contains(imageTokenIndex) else {
            throw ModelError("\(file): 'image_token_index' \(imageTokenIndex) is outside the vocabulary of \(textConfig.vocabSize)")
        }
        guard imageMean.count == 3, imageStd.count == 3, imageStd.allSatisfy({ $0 > 0 }) else {
            throw ModelError("\(file): 'image_mean' and 'image_std' need 3 values (std positive)")
        }
        if let parrot {
            try parrot.validate(file: file)
            guard visionFeatureSelectStrategy == "full" else {
                throw ModelError("\(file): Parrot's MoE is guided by the class token: set 'vision_feature_select_strategy' to full (cls_patch)")
            }
        }
    }

    /// Reads and validates a multimodal `config.json`; its `text_config` keys are held to the
    /// decoder's policy (`DecoderConfigKeys`). Errors name the file and the key.
    public static func load(path: String) throws -> MultimodalConfig {
        let (data, object) = try ConfigFile.read(path)
        if let text = object["text_config"] as? [String: Any] { try DecoderConfigKeys.check(text, file: path + " (text_config)") }
        let config = try ConfigFile.decode(MultimodalConfig.self, from: data, path: path, what: "a multimodal config")
        try config.validate(file: path)
        return config
    }
}
