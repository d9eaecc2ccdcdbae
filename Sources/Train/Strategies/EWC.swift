import Data
import Foundation
import Model
import Tensor

/// Elastic weight consolidation (Kirkpatrick et al., 2017): while a stage trains, each tensor is
/// pulled back toward where the previous stage left it, in proportion to how much the previous
/// stage's loss depended on it:
///
///     L = L_task + (λ/2) Σᵢ Fᵢ (θᵢ − θ*ᵢ)²,      ∂/∂θᵢ = λ Fᵢ (θᵢ − θ*ᵢ)
///
/// θ*: the weights at the start of the stage; F: the diagonal of the empirical Fisher, the mean
/// over samples of the previous stage's data of the squared gradient of each sample's
/// log-likelihood (`prepare` takes one sample per backward pass; `accumulate` adds one squared
/// gradient, `finishFisher` divides by their number). Only the stage's trainable tensors carry
/// F and θ* (one arena, allocated once).
public final class EWC: ContinualStrategy, @unchecked Sendable {
    public let lambda: Float
    public let arena: Arena
    /// Where the Fisher comes from (nil: set by hand, as the tests do).
    var fisherSource: FisherSource?
    /// Trainable tensors (table, index), their Fisher diagonal and anchor θ*.
    let slots: [(set: Parameters, slot: ParameterSlot, fisher: Tensor, anchor: Tensor)]
    private var accumulated = 0

    /// Anchors every trainable tensor of `parameterSets` at its current value, Fisher 0.
    public init(parameterSets: [Parameters], lambda: Float) {
        self.lambda = lambda
        let trainable = parameterSets.flatMap { p in p.trainableSlots.map { (p, $0) } }
        let (arena, pairs): (Arena, [(Tensor, Tensor)]) = Arena.build { allocate in
            trainable.map { p, s in (allocate(p.info(s).shape), allocate(p.info(s).shape)) }
        }
        self.arena = arena
        slots = zip(trainable, pairs).map { ($0.0, $0.1, $1.0, $1.1) }
        for s in slots { s.anchor.copy(from: s.set.value(s.slot)) }
    }

    /// Adds the squared gradients now in the parameter tables (one sample's).
    public func accumulate() {
        for s in slots {
            let g = s.set.gradient(s.slot)!, f = s.fisher
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
            let p = s.set.value(s.slot)
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
            let p = s.set.value(s.slot), g = s.set.gradient(s.slot)!
            for i in 0..<p.count { g.data[i] += lambda * s.fisher.data[i] * (p.data[i] - s.anchor.data[i]) }
        }
    }

    /// Named state for a checkpoint (`ewc.fisher.<name>`, `ewc.anchor.<name>`), so a resumed stage
    /// keeps the Fisher and anchor it started with.
    public var checkpointState: [(name: String, tensor: Tensor)] {
        slots.flatMap { s in
            let name = s.set.info(s.slot).name
            return [("ewc.fisher." + name, s.fisher), ("ewc.anchor." + name, s.anchor)]
        }
    }

    /// The previous stage's data the Fisher is estimated from, one sample per backward pass.
    struct FisherSource {
        let stage: Stage
        let data: DatasetBuilder
        let batches: Int
        let seed: UInt64
        let moe: Bool
        let log: (String) -> Void
    }

    /// EWC for a stage whose recipe asks for it: anchored at the weights the stage starts from.
    static func make(_ c: StrategyContext) -> EWC? {
        guard let spec = c.stage.ewc, let previous = c.earlier.last else { return nil }
        let ewc = EWC(parameterSets: c.model.parameterSets, lambda: spec.lambda)
        // Images of a multimodal previous stage go through the tower.
        let data = c.data.with(vision: previous.kind.isMultimodal ? c.model.multimodal : nil)
        ewc.fisherSource = FisherSource(stage: previous, data: data, batches: spec.batches * c.globalBatch, seed: c.seeds.fisher,
                                        moe: c.stage.usesParrotMoE, log: c.log)
        return ewc
    }

    /// The empirical Fisher of the previous stage's data at the weights the stage starts from:
    /// the mean over `ewc.batches` × B samples of the squared gradient of each sample's
    /// log-likelihood (the sum of its token losses), one sample per backward pass; gradients are
    /// zeroed afterwards.
    func prepare(_ runner: StepRunner) throws {
        guard let source = fisherSource else { return }
        let data = try source.data.dataset(of: source.stage)
        let multimodal = source.data.vision == nil ? nil : runner.model.multimodal
        let single = StepRunner(model: runner.model, multimodal: multimodal, moe: source.moe, batch: 1, sequence: runner.text.sequence, pad: runner.pad)
        let batcher = Batcher(dataset: data, batchSize: 1, seed: source.seed)
        for _ in 0..<source.batches {
            for p in runner.model.parameterSets { p.zeroGradients() }
            single.load(batcher)
            _ = single.forwardLoss()
            single.backward(lossScale: 1)   // d(Σ token losses of the sample)
            accumulate()
        }
        finishFisher()
        for p in runner.model.parameterSets { p.zeroGradients() }
        source.log("ewc: Fisher diagonal from \(source.batches) samples of stage '\(source.stage.name)', λ = \(lambda)")
    }

    /// L + (λ/2) Σ F (θ − θ*)²: adds λ F (θ − θ*) to the gradients and returns the penalty.
    func lossTerm(step: Int) -> LossTerm? {
        addGradient()
        return LossTerm(name: "ewc_penalty", value: penalty())
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

extension EWCSpec {
    func validate(stageIndex index: Int, path p: [String], _ at: RecipeLocator) throws {
        guard index > 0 else { throw at.error(p + ["ewc"], "the first stage has no previous stage to consolidate") }
        guard lambda >= 0, batches >= 1 else { throw at.error(p + ["ewc"], "'ewc.lambda' must be ≥ 0 and 'ewc.batches' ≥ 1") }
    }
}
