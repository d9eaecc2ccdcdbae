import Data
import Foundation
import Model
import Tensor

/// Two-teacher distillation, adapted from MulKI (multi-stage knowledge integration of
/// vision-language models) to a generative multimodal model learning classes task by task.
/// The teachers: the model before the sequence (`model.base`: general knowledge) and the model
/// at the start of this task (what the earlier tasks taught).
///
/// - Distinguishing ideas: on each training sequence both teachers run; each is weighted by how
///   well it predicts the sequence's own answer (a softmax over their log-likelihoods), and the
///   student's softened next-token distributions are pulled towards theirs in that proportion
///   (`MixtureDistillation`: weight · τ² · KL on the scored tokens).
/// - Adding new ideas: each image's similarities to the class prototypes (the mean input
///   embeddings of the names of every class seen so far), softened, are pulled towards the
///   teachers' (`PrototypeRelation`, `prototype_weight`), keeping the cross-modal structure.
/// - Making connections: at the task's end the trainable weights are averaged with the task's
///   start, θ ← α·θ + (1 − α)·θ_start (`average`: α).
public struct TwoTeacherSpec: Codable, Sendable, Equatable {
    public var weight: Float
    public var temperature: Float
    public var prototypeWeight: Float
    public var prototypeTemperature: Float
    /// α of the weight averaging at the task's end (nil: none).
    public var average: Float?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case weight, temperature, prototypeWeight = "prototype_weight", prototypeTemperature = "prototype_temperature", average
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weight = try c.decodeIfPresent(Float.self, forKey: .weight) ?? 1
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? 2
        prototypeWeight = try c.decodeIfPresent(Float.self, forKey: .prototypeWeight) ?? 0
        prototypeTemperature = try c.decodeIfPresent(Float.self, forKey: .prototypeTemperature) ?? 0.1
        average = try c.decodeIfPresent(Float.self, forKey: .average)
    }

    func validate(path p: [String], _ at: RecipeLocator) throws {
        for (key, v) in [("weight", weight), ("prototype_weight", prototypeWeight)] where !(v.isFinite && v >= 0) {
            throw at.error(p + ["two_teacher", key], "'two_teacher.\(key)' must be a finite number at least 0, got \(v)")
        }
        for (key, v) in [("temperature", temperature), ("prototype_temperature", prototypeTemperature)] where !(v.isFinite && v > 0) {
            throw at.error(p + ["two_teacher", key], "'two_teacher.\(key)' must be positive, got \(v)")
        }
        if let a = average, !(a.isFinite && a > 0 && a <= 1) {
            throw at.error(p + ["two_teacher", "average"], "'two_teacher.average' (α) must be in (0, 1], got \(a)")
        }
    }
}

final class TwoTeacherDistillation: ContinualStrategy {
    let spec: TwoTeacherSpec
    let student: MultimodalModel
    /// The model before the sequence, and the model at the start of this task.
    let teachers: [MultimodalModel]
    let teacherActivations: [MultimodalActivations]
    /// The seen classes' prototypes: mean input embeddings of their names (fixed for the stage).
    let prototypes: [[Float]]
    let moe: Bool
    /// The last micro-batch's gradients (unscaled: the sum over its scored rows and images).
    private let logitGradient: Tensor, visualGradient: Tensor
    private let arena: Arena
    private var hasVisualGradient = false
    /// Σ over this step's micro-batches of the term (weight · KL + prototype_weight · relation).
    private var termSum = 0.0, microBatches = 0
    /// The student's tensors that train: the ones averaged and the ones a checkpoint keeps of the task's start.
    private let trainable: [(set: Int, slot: ParameterSlot)]

    init(spec: TwoTeacherSpec, student: MultimodalModel, initial: MultimodalModel, prototypes: [[Float]], batch B: Int, sequence T: Int, moe: Bool) {
        self.spec = spec
        self.student = student
        let start = student.copy()
        teachers = [initial, start]
        teacherActivations = teachers.map { $0.makeActivations(batch: B, sequence: T) }
        self.prototypes = prototypes
        self.moe = moe
        let V = student.config.textConfig.vocabSize, C = student.config.textConfig.hiddenSize
        (arena, (logitGradient, visualGradient)) = Arena.build { allocate in (allocate([B * T, V]), allocate([B * student.imageTokens, C])) }
        trainable = student.parameterSets.enumerated().flatMap { i, p in p.trainableSlots.map { (i, $0) } }
    }

    static func make(_ c: StrategyContext) throws -> TwoTeacherDistillation? {
        guard let spec = c.stage.twoTeacher else { return nil }
        guard c.stage.kind.isMultimodal, let student = c.model.multimodal else {
            throw TrainError("stage '\(c.stage.name)': two_teacher distils a multimodal model on its images: give the stage a multimodal kind (instruct) and the model a vision tower")
        }
        guard let base = c.base else {
            throw TrainError("stage '\(c.stage.name)': two_teacher's first teacher is the model before the sequence: the recipe needs model.base")
        }
        guard let initial = try LoadedModel(directory: base).multimodal,
              initial.parameterSets.map(\.table) == student.parameterSets.map(\.table) else {
            throw TrainError("stage '\(c.stage.name)': two_teacher: \(base) is not laid out as the model being trained (a multimodal model of the same shapes)")
        }
        // Prototypes: every class named by this stage's and the earlier stages' image folders.
        var names: [String] = []
        for stage in c.earlier + [c.stage] {
            for d in stage.data where d.resolvedFormat == .imageFolder {
                let folder = try ImageClassFolder(root: d.path, split: d.split ?? "train", namesFile: d.classNames)
                for name in d.classes ?? folder.classes { if let n = folder.displayName(name), !names.contains(n) { names.append(n) } }
            }
        }
        let prototypes = names.compactMap { student.decoder.meanEmbedding(c.data.tokenizer.encode($0)) }
        if spec.prototypeWeight > 0 && prototypes.count < 2 {
            throw TrainError("stage '\(c.stage.name)': two_teacher.prototype_weight needs the classes of image_folder sources (at least two)")
        }
        return TwoTeacherDistillation(spec: spec, student: student, initial: initial, prototypes: prototypes, batch: c.stage.batchSize,
                                      sequence: c.data.sequenceLength, moe: c.stage.usesParrotMoE)
    }

    var description: [String] {
        [String(format: "two-teacher distillation (MulKI-style): teachers = the model before the sequence and at this task's start; weight %g, τ %g; prototype relation over %d classes, weight %g, τ %g; %@",
                spec.weight, spec.temperature, prototypes.count, spec.prototypeWeight, spec.prototypeTemperature,
                spec.average.map { String(format: "weights averaged at the end with α = %g", $0) } ?? "no weight averaging")]
    }

    /// The student's forward and cross-entropy, then both teachers on the same batch, then the
    /// term's value and its (unscaled) gradients, which `extraGradients` adds during the backward.
    func forwardLoss(_ runner: StepRunner, microBatch index: Int) -> (loss: Float, count: Int)? {
        guard let mm = runner.mm else { return nil }
        let (loss, count) = runner.forwardLoss()
        let T = mm.text.sequence
        for (teacher, acts) in zip(teachers, teacherActivations) {
            runner.copyBatch(into: acts)
            teacher.forward(acts, moe: moe)
        }
        let teacherLogits = teacherActivations.map(\.text.logits), studentLogits = mm.text.logits, targets = mm.text.targets
        let weights = MixtureDistillation.sampleWeights(teachers: teacherLogits, targets: targets, sequence: T)
        let kl = MixtureDistillation.forward(student: studentLogits, teachers: teacherLogits, weights: weights, targets: targets,
                                             sequence: T, temperature: spec.temperature).loss
        logitGradient.zero()
        MixtureDistillation.backward(addInto: logitGradient, student: studentLogits, teachers: teacherLogits, weights: weights, targets: targets,
                                     sequence: T, temperature: spec.temperature, scale: spec.weight)
        var term = Double(spec.weight) * Double(kl)
        hasVisualGradient = spec.prototypeWeight > 0 && mm.imageCount > 0
        if hasVisualGradient {
            visualGradient.zero()
            let F = student.imageTokens, C = student.config.textConfig.hiddenSize
            var relation = 0.0
            for b in 0..<mm.text.batch where runner.hasImage(b) {
                func feature(_ acts: MultimodalActivations) -> [Float] {
                    var f = [Float](repeating: 0, count: C)
                    for t in 0..<F { for j in 0..<C { f[j] += acts.projected.output.data[(b * F + t) * C + j] / Float(F) } }
                    return f
                }
                let (l, g) = PrototypeRelation.lossAndGradient(student: feature(mm), teachers: teacherActivations.map(feature), weights: weights[b],
                                                               prototypes: prototypes, temperature: spec.prototypeTemperature)
                relation += l
                for t in 0..<F { for j in 0..<C { visualGradient.data[(b * F + t) * C + j] = spec.prototypeWeight * g[j] / Float(F) } }
            }
            term += Double(spec.prototypeWeight) * relation / Double(max(count, 1))  // per scored token, as the cross-entropy
        }
        termSum += term
        microBatches += 1
        return (loss, count)
    }

    /// The term's gradients at the cross-entropy's scale (1 / scored tokens / accumulation).
    func extraGradients() -> ExtraGradients? {
        let logits = logitGradient, visual = visualGradient, hasVisual = hasVisualGradient
        return ExtraGradients(
            logits: { g, scale in
                let n = g.count
                Parallel.forEach(n, costPerItem: 1) { range in for i in range { g.data[i] += scale * logits.data[i] } }
            },
            visualTokens: hasVisual ? { g, scale in
                for i in 0..<min(g.count, visual.count) { g.data[i] += scale * visual.data[i] }
            } : nil)
    }

    /// The step's mean term, for the log; its gradient went in with each backward.
    func lossTerm(step: Int) -> LossTerm? {
        defer { termSum = 0; microBatches = 0 }
        return LossTerm(name: "two_teacher", value: Float(termSum / Double(max(microBatches, 1))))
    }

    /// Weight averaging with the task's start: θ ← α·θ + (1 − α)·θ_start on the trainable tensors.
    func stageDidFinish() {
        guard let alpha = spec.average else { return }
        let start = teachers[1]
        for (set, slot) in trainable {
            let theta = student.parameterSets[set].value(slot), before = start.parameterSets[set].value(slot)
            for i in 0..<theta.count { theta[i] = alpha * theta[i] + (1 - alpha) * before[i] }
        }
    }

    /// The task's start (the second teacher), trainable tensors only: the rest equal the student's.
    var checkpointState: [(name: String, tensor: Tensor)] {
        let start = teachers[1]
        return trainable.map { set, slot in
            ("two_teacher.start.\(start.parameterSets[set].info(slot).name)", start.parameterSets[set].value(slot))
        }
    }
}
