import Data
import Model
import Tensor

/// Distillation from a frozen teacher: the decoder as it was at the start of the stage
/// (`DecoderModel.snapshot`: the stage's trainable tensors copied, frozen ones shared with the student).
///
/// Each optimizer step draws one text-only batch (B, T) of its own and adds
///
///     weight · τ² · KL(softmax(teacher/τ) ‖ softmax(student/τ))   (mean over the scored tokens)
///
/// to the loss, its gradient to the student's (`KLDivergence`). Student and teacher run the
/// batch in activations of their own, so the term does not depend on what the task's micro-
/// batches left behind. The teacher's copied tensors are checkpointed and the batcher deals B
/// samples per step, so a resumed stage continues with the same teacher and batches.
final class Distillation: ContinualStrategy {
    let spec: DistillationSpec
    let student: DecoderModel
    let teacher: DecoderModel
    /// The student's and the teacher's activations for one batch.
    let studentActivations: DecoderActivations
    let teacherActivations: DecoderActivations
    let batcher: Batcher
    let pad: Int32
    /// The stage's name, for the log.
    let stageName: String
    /// Per-token τ²·KL (N).
    private let losses: Tensor
    private let lossArena: Arena
    private let copied: [ParameterSlot]

    /// `step`: optimizer steps of this stage already taken (0, or where a resumed stage stands).
    init(spec: DistillationSpec, student: DecoderModel, dataset: StageDataset, batch B: Int, seed: UInt64, step: Int, pad: Int32,
         stageName: String = "") {
        self.spec = spec
        self.stageName = stageName
        self.student = student
        self.pad = pad
        copied = student.parameters.trainableSlots
        teacher = student.snapshot()
        studentActivations = student.makeActivations(batch: B, sequence: dataset.sequenceLength)
        teacherActivations = teacher.makeActivations(batch: B, sequence: dataset.sequenceLength)
        batcher = Batcher(dataset: dataset, batchSize: B, seed: seed, position: Batcher.position(afterSamples: step * B, of: dataset))
        (lossArena, losses) = Arena.build { allocate in allocate([B * dataset.sequenceLength]) }
    }

    static func make(_ c: StrategyContext) throws -> Distillation? {
        guard let spec = c.stage.distillation else { return nil }
        let pool = try c.data.textOnlyPool(spec.data, template: spec.template, earlier: c.earlier, key: "distillation")
        let data = StageDataset(samples: pool, sequenceLength: c.data.sequenceLength)
        return Distillation(spec: spec, student: c.model.decoder, dataset: data, batch: c.globalBatch, seed: c.seeds.distillation,
                            step: c.startStep, pad: c.data.tokenizer.paddingID, stageName: c.stage.name)
    }

    var description: [String] {
        let bytes = teacher.parameters.values.bytes + teacherActivations.bytes + studentActivations.bytes
        return [String(format: "distillation: teacher = the weights at the start of '%@' (%d tensors copied, the rest shared; %.1f MiB "
                       + "with both activations), one text-only batch of %d from %d samples per step, weight %g, temperature %g",
                       stageName, copied.count, Double(bytes) / 1_048_576, batcher.batchSize, batcher.dataset.samplesPerEpoch, spec.weight, spec.temperature)]
    }

    /// The teacher's own tensors (the copies), for the checkpoint: `distillation.teacher.<name>`.
    var checkpointState: [(name: String, tensor: Tensor)] {
        copied.map { ("distillation.teacher." + teacher.parameters.info($0).name, teacher.parameters.value($0)) }
    }

    /// One distillation batch: student and teacher forward, the weighted KL, and its gradient
    /// added to the student's parameter gradients. Returns weight · τ²·KL, the term this step adds to the loss.
    func lossTerm(step: Int) -> LossTerm? {
        let s = studentActivations, t = teacherActivations, N = s.batch * s.sequence
        batcher.next(tokens: s.tokens, targets: s.targets, attentionMask: s.attentionMask, pad: pad)
        student.forward(s)
        t.tokens.update(from: s.tokens, count: N)
        t.targets.update(from: s.targets, count: N)
        t.attentionMask.update(from: s.attentionMask, count: N)
        teacher.forward(t)
        let tau = spec.temperature
        let (kl, count) = KLDivergence.forward(losses: losses, student: s.logits, teacher: t.logits, targets: s.targets, temperature: tau)
        guard count > 0 else { return LossTerm(name: "distillation_loss", value: 0) }
        KLDivergence.backward(studentToGradient: s.logits, teacher: t.logits, targets: s.targets, temperature: tau, scale: spec.weight / Float(count))
        student.backward(logitGradient: s)
        return LossTerm(name: "distillation_loss", value: spec.weight * kl)
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
    /// nil: the model's chat template, else ChatML.
    public var template: ChatTemplate?

    public enum CodingKeys: String, CodingKey, CaseIterable { case weight, temperature, data, template }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weight = try c.decodeIfPresent(Float.self, forKey: .weight) ?? 1
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? 2
        data = try c.decodeIfPresent([DataSource].self, forKey: .data)
        template = try c.decodeIfPresent(ChatTemplate.self, forKey: .template)
    }
}

extension DistillationSpec {
    func validate(stageIndex index: Int, path p: [String], _ at: RecipeLocator) throws {
        guard index > 0 || data != nil else {
            throw at.error(p + ["distillation"], "the first stage has no earlier data to distill on: give 'distillation.data'")
        }
        for (j, d) in (data ?? []).enumerated() {
            try at.requireFile(d.path, at: p + ["distillation", "data", String(j), "path"], "distillation data file not found: \(d.path)")
        }
        guard weight > 0 else { throw at.error(p + ["distillation", "weight"], "'distillation.weight' must be positive") }
        guard temperature > 0 else { throw at.error(p + ["distillation", "temperature"], "'distillation.temperature' must be positive") }
    }
}
