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
/// to the loss, its gradient to the student's (`KLDivergence`). The teacher's copied tensors are
/// checkpointed (`namedState`) and the batcher deals B samples per step, so a resumed stage
/// continues with the same teacher and batches.
final class Distillation {
    let spec: DistillationSpec
    let teacher: DecoderModel
    /// The teacher's activations for one batch (only its logits are read).
    let teacherActivations: DecoderActivations
    let batcher: Batcher
    /// Per-token τ²·KL (N).
    private let losses: Tensor
    private let lossArena: Arena
    private let copied: [Int]

    /// `step`: optimizer steps of this stage already taken (0, or where a resumed stage stands).
    init(spec: DistillationSpec, student: DecoderModel, dataset: StageDataset, batch B: Int, seed: UInt64, step: Int) {
        self.spec = spec
        copied = student.parameters.trainableIndices
        teacher = student.snapshot()
        teacherActivations = DecoderActivations(config: student.config, batch: B, sequence: dataset.sequenceLength)
        batcher = Batcher(dataset: dataset, batchSize: B, seed: seed,
                          position: Batcher.position(afterSamples: step * B, of: dataset))
        (lossArena, losses) = Arena.build { allocate in allocate([B * dataset.sequenceLength]) }
    }

    /// The teacher's own tensors (the copies), for the checkpoint: `distillation.teacher.<name>`.
    var namedState: [(name: String, tensor: Tensor)] {
        copied.map { ("distillation.teacher." + teacher.parameters.table[$0].name, teacher.parameters.value(at: $0)) }
    }

    /// Bytes the teacher adds: its copied tensors and its activations.
    var bytes: Int { teacher.parameters.values.bytes + teacherActivations.arena.bytes }

    /// One distillation batch through `runner`'s decoder: student and teacher forward, the
    /// weighted KL, and its gradient (times `scale`, e.g. 1/accumulation) added to the student's
    /// parameter gradients. Returns weight · τ²·KL, the term this step adds to the loss.
    func step(_ runner: StepRunner, scale: Float) -> Float {
        runner.load(batcher)
        runner.forward()
        let student = runner.text, t = teacherActivations, N = student.batch * student.sequence
        t.tokens.update(from: student.tokens, count: N)
        t.targets.update(from: student.targets, count: N)
        t.attentionMask.update(from: student.attentionMask, count: N)
        teacher.forward(t)
        let tau = spec.temperature
        let (kl, count) = KLDivergence.forward(losses: losses, student: student.logits, teacher: t.logits,
                                               targets: student.targets, temperature: tau)
        guard count > 0 else { return 0 }
        KLDivergence.backward(studentToGradient: student.logits, teacher: t.logits, targets: student.targets,
                              temperature: tau, scale: spec.weight * scale / Float(count))
        runner.model.decoder.backward(logitGradient: student)
        return spec.weight * kl
    }
}
