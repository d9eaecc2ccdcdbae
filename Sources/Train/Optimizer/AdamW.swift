import Foundation
import Model
import Tensor

/// AdamW hyper-parameters (PyTorch names and defaults, except weight decay).
public struct AdamWConfig: Codable, Sendable, Equatable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var eps: Float = 1e-8
    /// Decoupled decay, applied to matrices only (`ParameterInfo.decays`).
    public var weightDecay: Float = 0.1

    public init(beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0.1) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    enum CodingKeys: String, CodingKey {
        case beta1 = "beta1", beta2 = "beta2", eps = "eps", weightDecay = "weight_decay"
    }
}

/// AdamW (Loshchilov & Hutter) over the trainable tensors of one or more `Parameters` tables,
/// with its two moments in one optimizer-state arena (frozen tensors get none). Per element, at step t:
///
///   p ← p − lr·λ·p  (matrices only)
///   m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²
///   p ← p − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
public final class AdamW: @unchecked Sendable {
    public let config: AdamWConfig
    public let parameterSets: [Parameters]
    /// Steps taken so far (t of the last update).
    public private(set) var step = 0
    public let state: Arena
    /// Trainable tensors (table, slot), their first and second moments and learning-rate multiplier.
    let slots: [(set: Parameters, slot: ParameterSlot, m: Tensor, v: Tensor, lrScale: Float)]

    public convenience init(parameters: Parameters, config: AdamWConfig) {
        self.init(parameterSets: [parameters], config: config)
    }

    /// `lrMultiplier(name)` scales the learning rate (and so the decoupled decay) of one tensor.
    public init(parameterSets: [Parameters], config: AdamWConfig, lrMultiplier: (String) -> Float = { _ in 1 }) {
        self.parameterSets = parameterSets
        self.config = config
        let trainable = parameterSets.flatMap { p in p.trainableSlots.map { (p, $0) } }
        let (arena, moments): (Arena, [(Tensor, Tensor)]) = Arena.build { allocate in
            trainable.map { p, s in (allocate(p.info(s).shape), allocate(p.info(s).shape)) }
        }
        state = arena
        slots = zip(trainable, moments).map { ($0.0, $0.1, $1.0, $1.1, lrMultiplier($0.0.info($0.1).name)) }
    }

    /// One update with learning rate `lr` from the gradients now in `parameters`.
    public func update(lr: Float) {
        step += 1
        let c = config
        let b1 = c.beta1, b2 = c.beta2, eps = c.eps
        let correction1 = 1 - powf(b1, Float(step)), correction2 = 1 - powf(b2, Float(step))
        for slot in slots where slot.lrScale > 0 {
            let lr = lr * slot.lrScale
            let p = slot.set.value(slot.slot), g = slot.set.gradient(slot.slot)!
            let m = slot.m, v = slot.v
            let decay = slot.set.info(slot.slot).decays ? 1 - lr * c.weightDecay : 1
            Parallel.forEach(p.count, costPerItem: 8) { range in
                for i in range {
                    let gi = g.data[i]
                    let mi = b1 * m.data[i] + (1 - b1) * gi
                    let vi = b2 * v.data[i] + (1 - b2) * gi * gi
                    m.data[i] = mi
                    v.data[i] = vi
                    p.data[i] = p.data[i] * decay - lr * (mi / correction1) / ((vi / correction2).squareRoot() + eps)
                }
            }
        }
    }

    /// Named state tensors for a checkpoint (`exp_avg.<name>`, `exp_avg_sq.<name>`).
    public var namedState: [(name: String, tensor: Tensor)] {
        slots.flatMap { s in
            let name = s.set.info(s.slot).name
            return [("exp_avg." + name, s.m), ("exp_avg_sq." + name, s.v)]
        }
    }

    /// Restores the step count (moments are restored through `namedState`).
    public func restore(step: Int) { self.step = step }
}
