import Data
import Model
import Tensor

/// Multi-layer rehearsal feature augmentation (Sources/Train/Train.docc, "Methods"): replayed
/// samples are made harder in feature space instead of input space.
///
/// For a batch that holds replayed samples: draw a layer l ~ U{0…L−1} for the batch and, per
/// replayed sample b, β̂_b ~ U(0, β). With z_b the sample's residual stream entering layer l
/// (its real tokens, T×C) and g_b = ∇_z ℓ (from a backward that stops at layer l and touches no
/// parameter gradient),
///
///     ẑ_b = z_b + β̂_b ‖z_b‖₂ g_b / ‖g_b‖₂
///
/// then layers l… rerun from ẑ and the step trains on ℓ(F_l(ẑ), y). New samples keep δ = 0. The
/// shift is treated as a constant: the backward through layers below l sees dẑ as dz. One layer per
/// batch (the maths draws one per sample; a per-row layer would need a forward per layer). The
/// draws come from a generator seeded by the step, so a resumed stage draws the same.
final class FeatureAugmentation: ContinualStrategy {
    let beta: Float
    /// The source index of the replay buffer in the stage's dataset (its last source: replay
    /// extends the data before this strategy sees it).
    private(set) var replaySource: Int32
    let seed: UInt64

    init(beta: Float, replaySource: Int32 = -1, seed: UInt64) {
        self.beta = beta
        self.replaySource = replaySource
        self.seed = seed
    }

    static func make(_ c: StrategyContext) throws -> FeatureAugmentation? {
        guard let spec = c.stage.featureAugmentation else { return nil }
        guard c.model.decoder.config.numHiddenLayers > 0 else {
            throw TrainError("stage '\(c.stage.name)': feature_augmentation needs a decoder with at least one layer")
        }
        return FeatureAugmentation(beta: spec.beta, seed: c.seeds.featureAugmentation)
    }

    /// Notes which source is the replay buffer; the data itself is unchanged.
    func extend(_ data: StageDataset) throws -> StageDataset {
        replaySource = Int32(data.sources.count - 1)
        return data
    }

    var description: [String] { ["feature augmentation: replayed samples shifted at a random layer by up to β = \(beta) of their norm"] }


    /// The draws of micro-batch `index` of the stage: the layer and β̂ per row (0 for rows that are not replayed).
    func draw(_ index: Int, layers: Int, rowSources: [Int32]) -> (layer: Int, betas: [Float]) {
        var rng = SeededGenerator(seed: seed ^ (UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15))
        let layer = Int(rng.next() % UInt64(layers))
        let betas = rowSources.map { $0 == replaySource ? beta * rng.uniform() : 0 }
        return (layer, betas)
    }

    /// Adds δ_b = β̂_b ‖z_b‖ g_b / ‖g_b‖ to every row b of `z` (B·T, C) with β̂_b > 0, over its real
    /// tokens (`attentionMask` 1); a sample whose gradient is 0 stays as it is.
    static func shift(_ z: Tensor, gradient g: Tensor, betas: [Float], attentionMask: UnsafePointer<Int32>, sequence T: Int) {
        let C = z.lastDimension
        for (b, beta) in betas.enumerated() where beta > 0 {
            var zz = 0.0, gg = 0.0
            for t in 0..<T where attentionMask[b * T + t] != 0 {
                let zr = z.data + (b * T + t) * C, gr = g.data + (b * T + t) * C
                for c in 0..<C { zz += Double(zr[c] * zr[c]); gg += Double(gr[c] * gr[c]) }
            }
            guard gg > 0 else { continue }
            let k = Float(Double(beta) * zz.squareRoot() / gg.squareRoot())
            for t in 0..<T where attentionMask[b * T + t] != 0 {
                let zr = z.data + (b * T + t) * C, gr = g.data + (b * T + t) * C
                for c in 0..<C { zr[c] += k * gr[c] }
            }
        }
    }

    /// One augmented forward on `runner`'s loaded batch: the normal forward, the gradient with
    /// respect to layer l's input, the shift of the replayed rows, and the rerun of layers l….
    /// Returns the augmented loss; `runner.backward` then trains on it. `index`: the micro-batch's
    /// index in the stage, which seeds the draws. (A batch without replayed rows keeps the plain forward's loss.)
    func forwardLoss(_ runner: StepRunner, microBatch index: Int) -> (loss: Float, count: Int)? {
        let base = runner.forwardLoss()
        let (layer, betas) = draw(index, layers: runner.model.decoder.config.numHiddenLayers, rowSources: runner.rowSources)
        guard betas.contains(where: { $0 > 0 }), base.count > 0 else { return base }
        let decoder = runner.model.decoder, acts = runner.text
        CrossEntropy.backward(logitsToGradient: acts.logits, targets: acts.targets, scale: 1 / Float(base.count))
        decoder.backward(logitGradient: acts, downTo: layer, parameterGradients: false)
        Self.shift(decoder.residualInput(acts, layer: layer), gradient: acts.residualGradient, betas: betas,
                   attentionMask: acts.attentionMask, sequence: acts.sequence)
        decoder.forwardLayers(acts, from: layer)
        let (loss, count) = decoder.loss(acts)
        return (loss + runner.balanceLoss, count)
    }
}

/// Multi-layer rehearsal feature augmentation (Sources/Train/Train.docc, "Methods"): in each batch that holds
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

extension FeatureAugmentationSpec {
    func validate(in stage: Stage, path p: [String], _ at: RecipeLocator) throws {
        guard stage.replay != nil else {
            throw at.error(p + ["feature_augmentation"], "feature augmentation acts on replayed samples: add 'replay' to stage '\(stage.name)'")
        }
        guard beta > 0 else { throw at.error(p + ["feature_augmentation", "beta"], "'feature_augmentation.beta' must be positive") }
    }
}
