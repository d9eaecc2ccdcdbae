import Data
import Foundation
import Model
import Tensor
import Tokenizer

/// Elastic weight consolidation (Kirkpatrick et al., 2017): while a stage trains, each tensor is
/// pulled back toward where the previous stage left it, in proportion to how much the previous
/// stage's loss depended on it:
///
///     L = L_task + (λ/2) Σᵢ Fᵢ (θᵢ − θ*ᵢ)²,      ∂/∂θᵢ = λ Fᵢ (θᵢ − θ*ᵢ)
///
/// θ*: the weights at the start of the stage; F: the diagonal of the empirical Fisher, the mean
/// over samples of the previous stage's data of the squared gradient of each sample's
/// log-likelihood (`Trainer.estimateFisher` takes one sample per backward pass; `accumulate` adds
/// one squared gradient, `finishFisher` divides by their number). Only the stage's trainable
/// tensors carry F and θ* (one arena, allocated once).
public final class EWC: @unchecked Sendable {
    public let lambda: Float
    public let arena: Arena
    /// Trainable tensors (table, index), their Fisher diagonal and anchor θ*.
    let slots: [(set: Parameters, index: Int, fisher: Tensor, anchor: Tensor)]
    private var accumulated = 0

    /// Anchors every trainable tensor of `parameterSets` at its current value, Fisher 0.
    public init(parameterSets: [Parameters], lambda: Float) {
        self.lambda = lambda
        let trainable = parameterSets.flatMap { p in p.trainableIndices.map { (p, $0) } }
        let (arena, pairs): (Arena, [(Tensor, Tensor)]) = Arena.build { allocate in
            trainable.map { p, i in (allocate(p.table[i].shape), allocate(p.table[i].shape)) }
        }
        self.arena = arena
        slots = zip(trainable, pairs).map { ($0.0, $0.1, $1.0, $1.1) }
        for s in slots { s.anchor.copy(from: s.set.value(at: s.index)) }
    }

    /// Adds the squared gradients now in the parameter tables (one sample's).
    public func accumulate() {
        for s in slots {
            let g = s.set.gradient(at: s.index)!, f = s.fisher
            for i in 0..<f.count { f.data[i] += g.data[i] * g.data[i] }
        }
        accumulated += 1
    }

    /// Divides the accumulated squares by their number: F is their mean.
    public func finishFisher() {
        guard accumulated > 0 else { return }
        for s in slots { Elementwise.scale(s.fisher, by: 1 / Float(accumulated)) }
        accumulated = 0
    }

    /// (λ/2) Σ F (θ − θ*)².
    public func penalty() -> Float {
        var sum = 0.0
        for s in slots {
            let p = s.set.value(at: s.index)
            for i in 0..<p.count {
                let d = Double(p.data[i] - s.anchor.data[i])
                sum += Double(s.fisher.data[i]) * d * d
            }
        }
        return Float(0.5 * Double(lambda) * sum)
    }

    /// Adds λ F (θ − θ*) to every anchored tensor's gradient.
    public func addGradient() {
        for s in slots {
            let p = s.set.value(at: s.index), g = s.set.gradient(at: s.index)!
            for i in 0..<p.count { g.data[i] += lambda * s.fisher.data[i] * (p.data[i] - s.anchor.data[i]) }
        }
    }

    /// Named state for a checkpoint (`ewc.fisher.<name>`, `ewc.anchor.<name>`), so a resumed stage
    /// keeps the Fisher and anchor it started with.
    public var namedState: [(name: String, tensor: Tensor)] {
        slots.flatMap { s in
            let name = s.set.table[s.index].name
            return [("ewc.fisher." + name, s.fisher), ("ewc.anchor." + name, s.anchor)]
        }
    }
}

extension Trainer {
    /// EWC's Fisher diagonal, the empirical Fisher of the previous stage's data at the weights the
    /// stage starts from: the mean over `batches` × B samples of the squared gradient of each
    /// sample's log-likelihood (the sum of its token losses), one sample per backward pass;
    /// gradients are zeroed afterwards. Images of a multimodal previous stage go through the tower.
    func estimateFisher(_ ewc: EWC, _ spec: EWCSpec, stageIndex: Int, runner: StepRunner, tokenizer: SentencePieceTokenizer) throws {
        let previous = recipe.stages[stageIndex - 1]
        let multimodal = previous.kind.isMultimodal ? runner.model.multimodal : nil
        let vision = multimodal.map(StageDataset.Vision.init(model:))
        let T = runner.text.sequence
        let data = try StageDataset(sources: previous.data, baseDirectory: FileManager.default.currentDirectoryPath, tokenizer: tokenizer,
                                    template: previous.template, system: previous.systemPrompt, sequenceLength: T,
                                    skipBadSamples: previous.skipBadSamples, vision: vision)
        let single = StepRunner(model: runner.model, multimodal: multimodal, batch: 1, sequence: T, pad: runner.pad)
        let batcher = Batcher(dataset: data, batchSize: 1, seed: recipe.seed &+ UInt64(stageIndex) &* 104_729)
        let samples = spec.batches * runner.text.batch
        for _ in 0..<samples {
            for p in runner.model.parameterSets { p.zeroGradients() }
            single.load(batcher)
            _ = single.forwardLoss()
            single.backward(lossScale: 1)   // d(Σ token losses of the sample)
            ewc.accumulate()
        }
        ewc.finishFisher()
        for p in runner.model.parameterSets { p.zeroGradients() }
        log("ewc: Fisher diagonal from \(samples) samples of stage '\(previous.name)', λ = \(spec.lambda)")
    }
}
