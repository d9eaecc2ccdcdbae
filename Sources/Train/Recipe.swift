import Data
import Eval
import Foundation
import Model

/// A training recipe: a model, a tokenizer, and an ordered list of stages, each starting
/// from the weights the previous one ended with. Keys follow Hugging Face's
/// `TrainingArguments` (and LLaVA's `model_max_length`) so they read familiarly.
///
/// Recipes live in `Train`, not `Data`: a recipe names a model architecture (`Model`) as
/// well as data sources (`Data`), and `Train` is the module above both.
public struct Recipe: Codable, Sendable, Equatable {
    public var model: ModelSource
    /// The SentencePiece model; default: the base model's `tokenizer.model`.
    public var tokenizer: String?
    /// Pieces added to the tokenizer as USER_DEFINED (the embedding grows to match).
    public var specialTokens: [String]
    public var outputDir: String
    public var seed: UInt64
    /// Checkpoints kept (oldest deleted first); the final one of each stage is always kept.
    public var saveTotalLimit: Int
    public var stages: [Stage]
    /// Text generated after training, to show what the model learned.
    public var generate: GenerationSpec?
    /// Suites scored before the first stage and after each one (the forgetting report).
    public var eval: EvalSpec?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case model, tokenizer, specialTokens = "special_tokens", outputDir = "output_dir", seed
        case saveTotalLimit = "save_total_limit", stages, generate, eval
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelSource.self, forKey: .model)
        tokenizer = try c.decodeIfPresent(String.self, forKey: .tokenizer)
        specialTokens = try c.decodeIfPresent([String].self, forKey: .specialTokens) ?? []
        outputDir = try c.decode(String.self, forKey: .outputDir)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        saveTotalLimit = try c.decodeIfPresent(Int.self, forKey: .saveTotalLimit) ?? 2
        stages = try c.decode([Stage].self, forKey: .stages)
        generate = try c.decodeIfPresent(GenerationSpec.self, forKey: .generate)
        eval = try c.decodeIfPresent(EvalSpec.self, forKey: .eval)
    }
}

/// The text-only suites a run scores before its first stage and after each stage.
public struct EvalSpec: Codable, Sendable, Equatable {
    public var suites: [EvalSuiteSpec]
    /// A task sequence: which stage learns which suite's task, in order. Once every one of these
    /// stages has been evaluated, `OUTPUT/continual.{json,md,svg}` hold the accuracy matrix and
    /// average accuracy, last accuracy, BWT and average forgetting.
    public var tasks: [EvalTaskSpec]

    public enum CodingKeys: String, CodingKey, CaseIterable { case suites, tasks }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        suites = try c.decode([EvalSuiteSpec].self, forKey: .suites)
        tasks = try c.decodeIfPresent([EvalTaskSpec].self, forKey: .tasks) ?? []
    }
}

/// One task of a sequence: the stage that learns it and the suite (by name) that measures it.
public struct EvalTaskSpec: Codable, Sendable, Equatable {
    public var stage: String
    public var suite: String

    public enum CodingKeys: String, CodingKey, CaseIterable { case stage, suite }
}

/// One suite of the `eval` block.
public struct EvalSuiteSpec: Codable, Sendable, Equatable {
    /// A short name for tables and charts.
    public var name: String
    /// An MMLU-layout directory, a CSV or a JSONL file.
    public var path: String
    public var mode: ScoringMode
    public var shots: Int?
    public var split: String
    public var limit: Int?
    /// The metric charted and compared: `acc` or `acc_norm` (continuation mode only).
    public var metric: String
    /// How image questions are framed: the template the model was instructed with (default chatml).
    public var template: ChatTemplate

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, path, mode, shots, split, limit, metric, template
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        path = try c.decode(String.self, forKey: .path)
        mode = try c.decodeIfPresent(ScoringMode.self, forKey: .mode) ?? .continuation
        shots = try c.decodeIfPresent(Int.self, forKey: .shots)
        split = try c.decodeIfPresent(String.self, forKey: .split) ?? "test"
        limit = try c.decodeIfPresent(Int.self, forKey: .limit)
        metric = try c.decodeIfPresent(String.self, forKey: .metric) ?? (mode == .continuation ? "acc_norm" : "acc")
        template = try c.decodeIfPresent(ChatTemplate.self, forKey: .template) ?? .chatml
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
    /// Parrot's mixture of experts to attach to the projector's output (needs the class token:
    /// `vision_feature_select_strategy: full`).
    public var parrot: ParrotConfig?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case base, architecture, initializerRange = "initializer_range", vision, wings, parrot
    }
}

/// The vision side of a LLaVA-style model, initialised from the seed.
public struct VisionSpec: Codable, Sendable, Equatable {
    /// Hugging Face `vision_config` keys.
    public var architecture: VisionConfig
    public var projectorType: Projector.Kind
    public var visionFeatureLayer: Int
    /// `default` (patch tokens) or `full` (class token too).
    public var visionFeatureSelectStrategy: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, projectorType = "mm_projector_type", visionFeatureLayer = "vision_feature_layer"
        case visionFeatureSelectStrategy = "vision_feature_select_strategy"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decode(VisionConfig.self, forKey: .architecture)
        projectorType = try c.decodeIfPresent(Projector.Kind.self, forKey: .projectorType) ?? .mlp2xGELU
        visionFeatureLayer = try c.decodeIfPresent(Int.self, forKey: .visionFeatureLayer) ?? -2
        visionFeatureSelectStrategy = try c.decodeIfPresent(String.self, forKey: .visionFeatureSelectStrategy) ?? "default"
    }
}

/// What a stage trains on, and its defaults.
///
/// - `text`: text only; the decoder trains (`trainable` matches decoder tensors only; Wings'
///   learners, if any, stay frozen by default).
/// - `vision`: pretrains the vision tower by captioning (as CapPa): images and captions, the
///   tower and projector train through the frozen language model; template `plain`.
/// - `align`: LLaVA stage 1: template `plain`, the projector trains.
/// - `instruct`: LLaVA stage 2: template `chatml`, the projector and the language model train;
///   text-only conversations may be mixed in.
public enum StageKind: String, Codable, Sendable, CaseIterable {
    case text, vision, align, instruct

    public var isMultimodal: Bool { self != .text }

    public var defaultTemplate: ChatTemplate { self == .vision || self == .align ? .plain : .chatml }

    public var defaultTrainable: [String] {
        switch self {
        case .text: ["*", "!*.wings.*"]
        case .vision: ["vision_tower.*", "multi_modal_projector.*"]
        case .align: ["multi_modal_projector.*"]
        case .instruct: ["multi_modal_projector.*", "model.*", "lm_head.*"]
        }
    }
}

/// One training stage.
public struct Stage: Codable, Sendable, Equatable {
    public var name: String
    public var kind: StageKind
    public var data: [DataSource]
    /// Held-out data whose mean loss is logged every `eval_steps`.
    public var evalData: [DataSource]
    public var template: ChatTemplate
    public var systemPrompt: String?
    /// Parameter-name globs that train; everything else is frozen (no gradient or optimizer memory).
    public var trainable: [String]
    public var learningRate: Float
    public var weightDecay: Float
    public var adamBeta1: Float
    public var adamBeta2: Float
    public var adamEpsilon: Float
    public var maxGradNorm: Float
    public var lrSchedulerType: LRSchedule.Kind
    public var warmupSteps: Int
    public var minLRRatio: Float
    public var batchSize: Int
    public var gradientAccumulationSteps: Int
    public var modelMaxLength: Int
    public var maxSteps: Int?
    public var numTrainEpochs: Double?
    public var saveSteps: Int?
    public var loggingSteps: Int
    public var evalSteps: Int?
    public var skipBadSamples: Bool
    /// Learning-rate multipliers by parameter-name glob (the longest matching glob wins; 1 when
    /// none matches): `{"model.*": 0.1, "model.layers.*.wings.*": 1}` trains the LLM at a tenth
    /// of the rate of Wings' learners (the paper's stage 2).
    public var lrMultipliers: [String: Float]
    /// Whether Parrot's MoE runs in this stage (default: in `instruct` stages only; the paper's
    /// stage 1 trains the projector with it off).
    public var parrotMoE: Bool?
    /// Continual learning: replay earlier stages' text-only samples in this one.
    public var replay: ReplaySpec?
    /// Continual learning: elastic weight consolidation toward the previous stage's weights.
    public var ewc: EWCSpec?
    /// Continual learning: distillation from the model as it was at the start of this stage.
    public var distillation: DistillationSpec?
    /// Continual learning: multi-layer rehearsal feature augmentation of the replayed samples.
    public var featureAugmentation: FeatureAugmentationSpec?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, kind, data, evalData = "eval_data", template, systemPrompt = "system_prompt", trainable
        case learningRate = "learning_rate", weightDecay = "weight_decay", adamBeta1 = "adam_beta1", adamBeta2 = "adam_beta2"
        case adamEpsilon = "adam_epsilon", maxGradNorm = "max_grad_norm", lrSchedulerType = "lr_scheduler_type"
        case warmupSteps = "warmup_steps", minLRRatio = "min_lr_ratio", batchSize = "per_device_train_batch_size"
        case gradientAccumulationSteps = "gradient_accumulation_steps", modelMaxLength = "model_max_length"
        case maxSteps = "max_steps", numTrainEpochs = "num_train_epochs", saveSteps = "save_steps"
        case loggingSteps = "logging_steps", evalSteps = "eval_steps", skipBadSamples = "skip_bad_samples"
        case lrMultipliers = "lr_multipliers", parrotMoE = "parrot_moe", replay, ewc, distillation
        case featureAugmentation = "feature_augmentation"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decodeIfPresent(StageKind.self, forKey: .kind) ?? .text
        data = try c.decode([DataSource].self, forKey: .data)
        evalData = try c.decodeIfPresent([DataSource].self, forKey: .evalData) ?? []
        template = try c.decodeIfPresent(ChatTemplate.self, forKey: .template) ?? kind.defaultTemplate
        systemPrompt = try c.decodeIfPresent(String.self, forKey: .systemPrompt)
        trainable = try c.decodeIfPresent([String].self, forKey: .trainable) ?? kind.defaultTrainable
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? 0
        adamBeta1 = try c.decodeIfPresent(Float.self, forKey: .adamBeta1) ?? 0.9
        adamBeta2 = try c.decodeIfPresent(Float.self, forKey: .adamBeta2) ?? 0.999
        adamEpsilon = try c.decodeIfPresent(Float.self, forKey: .adamEpsilon) ?? 1e-8
        maxGradNorm = try c.decodeIfPresent(Float.self, forKey: .maxGradNorm) ?? 1
        lrSchedulerType = try c.decodeIfPresent(LRSchedule.Kind.self, forKey: .lrSchedulerType) ?? .cosine
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 0
        minLRRatio = try c.decodeIfPresent(Float.self, forKey: .minLRRatio) ?? 0.1
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        gradientAccumulationSteps = try c.decodeIfPresent(Int.self, forKey: .gradientAccumulationSteps) ?? 1
        modelMaxLength = try c.decode(Int.self, forKey: .modelMaxLength)
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
        numTrainEpochs = try c.decodeIfPresent(Double.self, forKey: .numTrainEpochs)
        saveSteps = try c.decodeIfPresent(Int.self, forKey: .saveSteps)
        loggingSteps = try c.decodeIfPresent(Int.self, forKey: .loggingSteps) ?? 10
        evalSteps = try c.decodeIfPresent(Int.self, forKey: .evalSteps)
        skipBadSamples = try c.decodeIfPresent(Bool.self, forKey: .skipBadSamples) ?? false
        lrMultipliers = try c.decodeIfPresent([String: Float].self, forKey: .lrMultipliers) ?? [:]
        parrotMoE = try c.decodeIfPresent(Bool.self, forKey: .parrotMoE)
        replay = try c.decodeIfPresent(ReplaySpec.self, forKey: .replay)
        ewc = try c.decodeIfPresent(EWCSpec.self, forKey: .ewc)
        distillation = try c.decodeIfPresent(DistillationSpec.self, forKey: .distillation)
        featureAugmentation = try c.decodeIfPresent(FeatureAugmentationSpec.self, forKey: .featureAugmentation)
    }

    /// Whether Parrot's MoE runs in this stage.
    public var usesParrotMoE: Bool { parrotMoE ?? (kind == .instruct) }

    /// The learning-rate multiplier of the tensor `name` (`lr_multipliers`).
    public func lrMultiplier(for name: String) -> Float {
        lrMultipliers.filter { Glob.matches(name, pattern: $0.key) }.max { $0.key.count < $1.key.count }?.value ?? 1
    }

    public var adamW: AdamWConfig {
        AdamWConfig(beta1: adamBeta1, beta2: adamBeta2, eps: adamEpsilon, weightDecay: weightDecay)
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

/// Text-only replay: a buffer of `buffer_size` text-only samples drawn (seeded) from `data` (what
/// the base model learned before this recipe) or, without it, from every earlier stage's data,
/// mixed into this stage so that they make up `ratio` of the samples of each epoch.
public struct ReplaySpec: Codable, Sendable, Equatable {
    public var ratio: Double
    public var bufferSize: Int
    public var data: [DataSource]?
    /// How `data`'s conversations are rendered (default chatml).
    public var template: ChatTemplate

    public enum CodingKeys: String, CodingKey, CaseIterable { case ratio, bufferSize = "buffer_size", data, template }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ratio = try c.decode(Double.self, forKey: .ratio)
        bufferSize = try c.decodeIfPresent(Int.self, forKey: .bufferSize) ?? 1000
        data = try c.decodeIfPresent([DataSource].self, forKey: .data)
        template = try c.decodeIfPresent(ChatTemplate.self, forKey: .template) ?? .chatml
    }
}

/// Elastic weight consolidation: `lambda` (λ) and the number of batches (of the stage's batch
/// size) of the previous stage's data whose samples, one by one, estimate the Fisher diagonal.
public struct EWCSpec: Codable, Sendable, Equatable {
    public var lambda: Float
    public var batches: Int

    public enum CodingKeys: String, CodingKey, CaseIterable { case lambda, batches }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lambda = try c.decode(Float.self, forKey: .lambda)
        batches = try c.decodeIfPresent(Int.self, forKey: .batches) ?? 16
    }
}

/// Distillation from a frozen teacher, the model as it was at the start of the stage: each
/// optimizer step adds one text-only batch from `data` (default: every earlier stage's text-only
/// samples) on which the loss is `weight` · τ² · KL(teacher ‖ student) at temperature τ over the
/// scored tokens.
public struct DistillationSpec: Codable, Sendable, Equatable {
    public var weight: Float
    public var temperature: Float
    public var data: [DataSource]?
    /// How `data`'s conversations are rendered (default chatml).
    public var template: ChatTemplate

    public enum CodingKeys: String, CodingKey, CaseIterable { case weight, temperature, data, template }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weight = try c.decodeIfPresent(Float.self, forKey: .weight) ?? 1
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? 2
        data = try c.decodeIfPresent([DataSource].self, forKey: .data)
        template = try c.decodeIfPresent(ChatTemplate.self, forKey: .template) ?? .chatml
    }
}

/// Multi-layer rehearsal feature augmentation (../shared/DESIGN.md): in each batch that holds
/// replayed samples, a layer l is drawn uniformly and, for each replayed sample, β̂ ~ U(0, `beta`);
/// the sample's input to layer l moves to ẑ = z + β̂ ‖z‖ ∇_z ℓ / ‖∇_z ℓ‖ and the step trains on the
/// forward from ẑ. New samples train as usual. Needs `replay` in the same stage.
public struct FeatureAugmentationSpec: Codable, Sendable, Equatable {
    public var beta: Float

    public enum CodingKeys: String, CodingKey, CaseIterable { case beta }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        beta = try c.decodeIfPresent(Float.self, forKey: .beta) ?? 0.1
    }
}
