import Data
import Foundation
import Tensor

/// A LLaVA-style model's `config.json`: the decoder (`text_config`), the vision tower
/// (`vision_config`) and how they connect (Hugging Face `LlavaConfig` keys, plus this project's
/// `mm_projector_type`, `image_mean`/`image_std` and `parrot`), and the image preprocessing
/// (`preprocessor_config.json` beside it, when present; LLaVA's `image_aspect_ratio`).
public struct MultimodalConfig: Codable, Sendable, Equatable {
    public var textConfig: DecoderConfig
    public var visionConfig: VisionConfig
    public var projectorType: Projector.Kind
    /// The projector's activation (`projector_hidden_act`; LLaVA's `gelu` is the erf form).
    public var projectorHiddenAct: Activation
    /// Whether the projector's linear layers have biases (`multimodal_projector_bias`).
    public var projectorBias: Bool
    /// Index into the tower's hidden states (−2: the second-to-last, LLaVA's default).
    public var visionFeatureLayer: Int
    /// `default` drops the class token (LLaVA's `patch`); `full` keeps it (`cls_patch`).
    public var visionFeatureSelectStrategy: String
    /// The `<image>` placeholder's token id (`image_token_index`, or `image_token_id`).
    public var imageTokenIndex: Int
    /// Pixel normalisation of the vision tower (CLIP's by default) when there is no processor config.
    public var imageMean: [Float]
    public var imageStd: [Float]
    /// LLaVA's `image_aspect_ratio`: `pad` pads each image to a square with the mean colour
    /// first; `square` does not. nil: pad only without a processor config (this project's checkpoints).
    public var imageAspectRatio: String?
    /// The `preprocessor_config.json` beside `config.json` (not a key of it).
    public var imageProcessor: ImageProcessorConfig?
    /// Parrot's mixture of experts on the visual tokens, when attached (this project's key).
    public var parrot: ParrotConfig?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case modelType = "model_type", architectures, textConfig = "text_config", visionConfig = "vision_config"
        case projectorType = "mm_projector_type", projectorHiddenAct = "projector_hidden_act", projectorBias = "multimodal_projector_bias"
        case visionFeatureLayer = "vision_feature_layer", visionFeatureSelectStrategy = "vision_feature_select_strategy"
        case imageTokenIndex = "image_token_index", imageTokenId = "image_token_id", imageSeqLength = "image_seq_length"
        case imageMean = "image_mean", imageStd = "image_std", imageAspectRatio = "image_aspect_ratio", parrot
    }

    public init(textConfig: DecoderConfig, visionConfig: VisionConfig, projectorType: Projector.Kind = .mlp2xGELU,
                projectorHiddenAct: Activation = .gelu, projectorBias: Bool = true,
                visionFeatureLayer: Int = -2, visionFeatureSelectStrategy: String = "default", imageTokenIndex: Int,
                imageMean: [Float] = ImageProcessorConfig.clipMean, imageStd: [Float] = ImageProcessorConfig.clipStd) {
        self.textConfig = textConfig
        self.visionConfig = visionConfig
        self.projectorType = projectorType
        self.projectorHiddenAct = projectorHiddenAct
        self.projectorBias = projectorBias
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
        let ownKeys = c.contains(.projectorType)
        projectorType = try c.decodeIfPresent(Projector.Kind.self, forKey: .projectorType) ?? .mlp2xGELU
        // transformers' default is gelu; this project's checkpoints before the key computed the tanh form
        projectorHiddenAct = try c.decodeIfPresent(String.self, forKey: .projectorHiddenAct).map { try Activation.configValue($0, key: "'projector_hidden_act'") }
            ?? (ownKeys ? .geluTanh : .gelu)
        projectorBias = try c.decodeIfPresent(Bool.self, forKey: .projectorBias) ?? true
        if (try? c.decodeIfPresent([Int].self, forKey: .visionFeatureLayer)) != nil {
            throw ModelError("'vision_feature_layer' is a list: features concatenated from several layers are not supported (give one index)")
        }
        visionFeatureLayer = try c.decodeIfPresent(Int.self, forKey: .visionFeatureLayer) ?? -2
        visionFeatureSelectStrategy = try c.decodeIfPresent(String.self, forKey: .visionFeatureSelectStrategy) ?? "default"
        if !ownKeys && visionFeatureSelectStrategy == "default" && !visionConfig.hasClassToken {
            // transformers' `default` drops the first token whatever it is: a SigLIP tower's first patch
            throw ModelError("'vision_feature_select_strategy' is default with a \(visionConfig.modelType) tower: transformers then drops the tower's first patch token, which this project does not reproduce (LLaVA checkpoints with SigLIP towers use full)")
        }
        guard let token = try c.decodeIfPresent(Int.self, forKey: .imageTokenIndex) ?? c.decodeIfPresent(Int.self, forKey: .imageTokenId) else {
            throw ModelError("missing required key 'image_token_index' (or 'image_token_id'): the <image> placeholder's id")
        }
        imageTokenIndex = token
        imageMean = try c.decodeIfPresent([Float].self, forKey: .imageMean) ?? ImageProcessorConfig.clipMean
        imageStd = try c.decodeIfPresent([Float].self, forKey: .imageStd) ?? ImageProcessorConfig.clipStd
        imageAspectRatio = try c.decodeIfPresent(String.self, forKey: .imageAspectRatio)
        parrot = try c.decodeIfPresent(ParrotConfig.self, forKey: .parrot)
        if let length = try c.decodeIfPresent(Int.self, forKey: .imageSeqLength) {
            // The patch count divides image_size by patch_size: both in their domain first.
            for (key, value) in [("image_size", visionConfig.imageSize), ("patch_size", visionConfig.patchSize)] {
                try SizeLimits.check(key, value, file: "vision_config", section: nil)
            }
            let count = visionConfig.patchCount + (visionFeatureSelectStrategy == "full" && visionConfig.hasClassToken ? 1 : 0)
            guard length == count else {
                throw ModelError("'image_seq_length' is \(length), but the tower gives \(count) visual tokens per image (\(visionConfig.patchCount) patches\(visionFeatureSelectStrategy == "full" ? " and the class token" : ""))")
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("llava", forKey: .modelType)
        try c.encode(["LlavaForConditionalGeneration"], forKey: .architectures)
        try c.encode(textConfig, forKey: .textConfig)
        try c.encode(visionConfig, forKey: .visionConfig)
        try c.encode(projectorType, forKey: .projectorType)
        try c.encode(projectorHiddenAct, forKey: .projectorHiddenAct)
        try c.encode(projectorBias, forKey: .projectorBias)
        try c.encode(visionFeatureLayer, forKey: .visionFeatureLayer)
        try c.encode(visionFeatureSelectStrategy, forKey: .visionFeatureSelectStrategy)
        try c.encode(imageTokenIndex, forKey: .imageTokenIndex)
        try c.encode(imageTokens, forKey: .imageSeqLength)
        try c.encode(imageMean, forKey: .imageMean)
        try c.encode(imageStd, forKey: .imageStd)
        try c.encodeIfPresent(imageAspectRatio, forKey: .imageAspectRatio)
        try c.encodeIfPresent(parrot, forKey: .parrot)
    }

    /// Visual tokens per image: the patches, and the class token with `full`.
    public var imageTokens: Int {
        visionConfig.patchCount + (visionFeatureSelectStrategy == "full" && visionConfig.hasClassToken ? 1 : 0)
    }

    /// How images are prepared for the tower: the processor config's pipeline (padded to a square
    /// first with `image_aspect_ratio: pad`), or, without one, this project's own (pad, resize).
    public var imagePreprocessor: ImagePreprocessor {
        guard let p = imageProcessor, let pre = try? ImagePreprocessor(config: p, padToSquare: imageAspectRatio == "pad", file: "") else {
            return .legacy(size: visionConfig.imageSize, mean: imageMean, std: imageStd, padToSquare: imageAspectRatio != "square")
        }
        return pre
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
            throw ModelError("\(file): 'image_token_index' \(imageTokenIndex) is outside the vocabulary of \(textConfig.vocabSize) (text_config.vocab_size)")
        }
        guard imageMean.count == 3, imageStd.count == 3, imageStd.allSatisfy({ $0 > 0 }) else {
            throw ModelError("\(file): 'image_mean' and 'image_std' need 3 values (std positive)")
        }
        guard imageAspectRatio == nil || ["pad", "square"].contains(imageAspectRatio!) else {
            throw ModelError("\(file): 'image_aspect_ratio' \"\(imageAspectRatio!)\" is not pad or square (anyres is not supported)")
        }
        if let p = imageProcessor {
            let processorFile = ImageProcessorConfig.path(directory: (file as NSString).deletingLastPathComponent)
            let (h, w) = try p.outputSize(file: processorFile)
            guard h == visionConfig.imageSize && w == visionConfig.imageSize else {
                throw ModelError("\(processorFile): the processed images are \(h)x\(w) (crop_size or size), but vision_config's image_size is \(visionConfig.imageSize)")
            }
        }
        if let parrot {
            try parrot.validate(file: file)
            guard visionFeatureSelectStrategy == "full" else {
                throw ModelError("\(file): Parrot's MoE is guided by the class token: set 'vision_feature_select_strategy' to full (cls_patch)")
            }
        }
    }

    /// Reads and validates a multimodal `config.json` (and the `preprocessor_config.json` beside
    /// it); absent keys of its sub-configs take transformers' class defaults
    /// (``HuggingFaceDefaults``), and `text_config` is held to the decoder's key policy
    /// (`DecoderConfigKeys`). Errors name the file and the key.
    public static func load(path: String) throws -> MultimodalConfig {
        var (_, object) = try ConfigFile.read(path)
        for (key, type) in [("text_config", "llama"), ("vision_config", "clip_vision_model")] {
            guard object[key] != nil else {
                throw ModelError("\(path): missing required key '\(key)' (a LLaVA config names its \(key == "text_config" ? "language model" : "vision tower") there)")
            }
            guard let sub = object[key] as? [String: Any] else { throw ModelError("\(path): '\(key)' should be an object") }
            object[key] = HuggingFaceDefaults.filled(sub, defaultType: type)
        }
        try DecoderConfigKeys.check(object["text_config"] as! [String: Any], file: path + " (text_config)")
        let data = try JSONSerialization.data(withJSONObject: object)
        var config = try ConfigFile.decode(MultimodalConfig.self, from: data, path: path, what: "a multimodal config")
        config.imageProcessor = try ImageProcessorConfig.load(directory: (path as NSString).deletingLastPathComponent)
        try config.validate(file: path)
        return config
    }
}
