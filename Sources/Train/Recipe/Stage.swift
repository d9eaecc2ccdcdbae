import Data
import Foundation
import Model

/// What a stage trains on, and its defaults.
///
/// - `text`: text only; the decoder trains (`trainable` matches decoder tensors only; Wings'
///   learners, if any, stay frozen by default).
/// - `vision`: pretrains the vision tower by captioning (as CapPa): images and captions, the
///   tower and projector train through the frozen language model; template `plain`.
/// - `align`: LLaVA stage 1: template `plain`, the projector trains.
/// - `instruct`: LLaVA stage 2: the model's chat template (else `chatml`), the projector and the language model train;
///   text-only conversations may be mixed in.
public enum StageKind: String, Codable, Sendable, CaseIterable {
    case text, vision, align, instruct

    public var isMultimodal: Bool { self != .text }

    /// `plain` for the stages that align images and captions; nil (the model's chat template,
    /// else ChatML) for the rest.
    public var defaultTemplate: ChatTemplate? { self == .vision || self == .align ? .plain : nil }

    public var defaultTrainable: [String] {
        switch self {
        case .text: ["*", "!*.wings.*"]
        case .vision: ["vision_tower.*", "multi_modal_projector.*"]
        case .align: ["multi_modal_projector.*"]
        case .instruct: ["multi_modal_projector.*", "model.*", "lm_head.*"]
        }
    }

    /// The default with LoRA attached: the LM's share trains through LoRA alone, its base frozen
    /// as PEFT freezes it (Wings' learners stay frozen in text stages, as without LoRA).
    public var defaultTrainableWithLoRA: [String] {
        switch self {
        case .text: LoRAConfig.trainableGlobs
        case .vision, .align: defaultTrainable
        case .instruct: ["multi_modal_projector.*"] + LoRAConfig.trainableGlobs
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
    /// nil: the model's chat template (from its tokenizer_config.json), else ChatML.
    public var template: ChatTemplate?
    public var systemPrompt: String?
    /// Parameter-name globs that train; everything else is frozen (no gradient or optimizer
    /// memory). nil: the kind's default (``trainablePatterns(lora:)``).
    public var trainable: [String]?
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
    /// Two-teacher distillation (MulKI-style) on the stage's own images.
    public var twoTeacher: TwoTeacherSpec?
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
        case featureAugmentation = "feature_augmentation", twoTeacher = "two_teacher"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decodeIfPresent(StageKind.self, forKey: .kind) ?? .text
        data = try c.decode([DataSource].self, forKey: .data)
        evalData = try c.decodeIfPresent([DataSource].self, forKey: .evalData) ?? []
        template = try c.decodeIfPresent(ChatTemplate.self, forKey: .template) ?? kind.defaultTemplate
        systemPrompt = try c.decodeIfPresent(String.self, forKey: .systemPrompt)
        trainable = try c.decodeIfPresent([String].self, forKey: .trainable)
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
        twoTeacher = try c.decodeIfPresent(TwoTeacherSpec.self, forKey: .twoTeacher)
        distillation = try c.decodeIfPresent(DistillationSpec.self, forKey: .distillation)
        featureAugmentation = try c.decodeIfPresent(FeatureAugmentationSpec.self, forKey: .featureAugmentation)
    }

    /// The globs that train: the recipe's `trainable`, else the kind's default, which with LoRA
    /// attached (`lora`) trains the LM through LoRA alone (`StageKind.defaultTrainableWithLoRA`).
    public func trainablePatterns(lora: Bool) -> [String] {
        trainable ?? (lora ? kind.defaultTrainableWithLoRA : kind.defaultTrainable)
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
