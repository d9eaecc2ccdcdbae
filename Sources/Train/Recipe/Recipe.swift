import Data
import Eval
import Foundation
import Model
import Tensor

/// A training recipe: a model, a tokenizer, and an ordered list of stages, each starting
/// from the weights the previous one ended with. Keys follow Hugging Face's
/// `TrainingArguments` (and LLaVA's `model_max_length`) so they read familiarly.
///
/// Recipes live in `Train`, not `Data`: a recipe names a model architecture (`Model`) as
/// well as data sources (`Data`), and `Train` is the module above both.
public struct Recipe: Codable, Sendable, Equatable {
    public var model: ModelSource
    /// The tokenizer: a SentencePiece `.model`, a `tokenizer.json` or a model directory; default: the base model's.
    public var tokenizer: String?
    /// Pieces added to the tokenizer as USER_DEFINED (the embedding grows to match).
    public var specialTokens: [String]
    public var outputDir: String
    /// Replace an earlier run in `output_dir` (Hugging Face's name; `--overwrite` on the command line).
    public var overwriteOutputDir: Bool
    public var seed: UInt64
    /// Checkpoints kept (oldest deleted first); the final one of each stage is always kept.
    public var saveTotalLimit: Int
    public var stages: [Stage]
    /// Text generated after training, to show what the model learned.
    public var generate: GenerationSpec?
    /// Suites scored before the first stage and after each one (the forgetting report).
    public var eval: EvalSpec?
    /// Class-incremental learning on an image-classification folder: expanded into one stage
    /// per task (`task1`, …), each scored on the classes seen so far.
    public var cil: ClassIncrementalSpec?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case model, tokenizer, specialTokens = "special_tokens", outputDir = "output_dir", overwriteOutputDir = "overwrite_output_dir", seed
        case saveTotalLimit = "save_total_limit", stages, generate, eval, cil
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelSource.self, forKey: .model)
        tokenizer = try c.decodeIfPresent(String.self, forKey: .tokenizer)
        specialTokens = try c.decodeIfPresent([String].self, forKey: .specialTokens) ?? []
        outputDir = try c.decode(String.self, forKey: .outputDir)
        overwriteOutputDir = try c.decodeIfPresent(Bool.self, forKey: .overwriteOutputDir) ?? false
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        saveTotalLimit = try c.decodeIfPresent(Int.self, forKey: .saveTotalLimit) ?? 2
        stages = try c.decode([Stage].self, forKey: .stages)
        generate = try c.decodeIfPresent(GenerationSpec.self, forKey: .generate)
        eval = try c.decodeIfPresent(EvalSpec.self, forKey: .eval)
        cil = try c.decodeIfPresent(ClassIncrementalSpec.self, forKey: .cil)
    }
}

/// Where the weights come from: a checkpoint directory, or an architecture initialised from the seed.
public struct ModelSource: Codable, Sendable, Equatable {
    /// A Hugging Face-style directory (`config.json`, `model.safetensors`, `tokenizer.model`).
    public var base: String?
    /// A decoder to initialise (Hugging Face `config.json` keys).
    public var architecture: DecoderConfig?
    /// Standard deviation of the initial weights (Hugging Face's name).
    public var initializerRange: Float?
    /// A vision tower and projector to attach (multimodal stages need them; a multimodal base has them).
    public var vision: VisionSpec?
    /// Wings' learners to attach to the decoder (fresh: they change nothing until they train).
    public var wings: WingsConfig?
    /// LoRA on the decoder's projections (PEFT's keys), attached fresh: B = 0 changes nothing
    /// until it trains. A stage without `trainable` then trains the LM through LoRA alone (the
    /// base frozen, `StageKind.defaultTrainableWithLoRA`); by name: `LoRAConfig.trainableGlobs`.
    public var lora: LoRAConfig?
    /// Parrot's mixture of experts to attach to the projector's output (needs the class token:
    /// `vision_feature_select_strategy: full`).
    public var parrot: ParrotConfig?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case base, architecture, initializerRange = "initializer_range", vision, wings, lora, parrot
    }
}

/// The vision side of a LLaVA-style model: a tower initialised from the seed (`architecture`)
/// or a pretrained Hugging Face tower (`base`), and a projector, fresh or from `projector`.
public struct VisionSpec: Codable, Sendable, Equatable {
    /// Hugging Face `vision_config` keys, for a tower initialised from the seed.
    public var architecture: VisionConfig?
    /// A pretrained tower: a CLIPVisionModel / SiglipVisionModel directory, a full CLIPModel /
    /// SiglipModel (its vision half) or a LLaVA checkpoint (its tower), with its `preprocessor_config.json`.
    public var base: String?
    /// A checkpoint whose `multi_modal_projector.*` tensors start the projector (any LLaVA layout).
    public var projector: String?
    public var projectorType: Projector.Kind
    /// The projector's activation (default: LLaVA's `gelu`, the erf form, or the `projector` checkpoint's).
    public var projectorHiddenAct: Activation?
    public var visionFeatureLayer: Int
    /// `default` (patch tokens) or `full` (class token too).
    public var visionFeatureSelectStrategy: String
    /// LLaVA's `image_aspect_ratio`: `pad` pads images to a square with the mean colour before the
    /// tower's preprocessing; `square` does not (default: pad for a tower from `architecture`,
    /// the processor config's pipeline alone for a tower from `base`).
    public var imageAspectRatio: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, base, projector, projectorType = "mm_projector_type", projectorHiddenAct = "projector_hidden_act"
        case visionFeatureLayer = "vision_feature_layer", visionFeatureSelectStrategy = "vision_feature_select_strategy"
        case imageAspectRatio = "image_aspect_ratio"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decodeIfPresent(VisionConfig.self, forKey: .architecture)
        base = try c.decodeIfPresent(String.self, forKey: .base)
        projector = try c.decodeIfPresent(String.self, forKey: .projector)
        projectorType = try c.decodeIfPresent(Projector.Kind.self, forKey: .projectorType) ?? .mlp2xGELU
        if let act = try c.decodeIfPresent(String.self, forKey: .projectorHiddenAct) {
            guard let activation = Activation(huggingFace: act) else {
                throw DecodingError.dataCorruptedError(forKey: .projectorHiddenAct, in: c,
                                                       debugDescription: "'\(act)' is not one of \(Activation.huggingFaceNames.joined(separator: ", "))")
            }
            projectorHiddenAct = activation
        }
        visionFeatureLayer = try c.decodeIfPresent(Int.self, forKey: .visionFeatureLayer) ?? -2
        visionFeatureSelectStrategy = try c.decodeIfPresent(String.self, forKey: .visionFeatureSelectStrategy) ?? "default"
        imageAspectRatio = try c.decodeIfPresent(String.self, forKey: .imageAspectRatio)
    }
}

/// Prompts completed after training.
public struct GenerationSpec: Codable, Sendable, Equatable {
    public var prompts: [String]
    /// The expected start of each completion (optional): shown as ✓ or ✗.
    public var expect: [String]?
    public var maxNewTokens: Int
    public var temperature: Float

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case prompts, expect, maxNewTokens = "max_new_tokens", temperature
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompts = try c.decode([String].self, forKey: .prompts)
        expect = try c.decodeIfPresent([String].self, forKey: .expect)
        maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens) ?? 32
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? 0
    }
}
