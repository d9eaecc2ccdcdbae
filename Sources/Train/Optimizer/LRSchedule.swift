import Foundation

/// Learning rate per optimizer step: linear warmup, then cosine, linear or constant.
public struct LRSchedule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case cosine, linear, constant }

    public var kind: Kind
    /// Peak learning rate, reached at the end of warmup.
    public var lr: Float
    public var warmupSteps: Int
    /// Total optimizer steps (warmup included).
    public var totalSteps: Int
    /// The floor the decay ends at, as a fraction of `lr`.
    public var minLRRatio: Float

    public init(kind: Kind = .cosine, lr: Float, warmupSteps: Int = 0, totalSteps: Int, minLRRatio: Float = 0.1) {
        self.kind = kind
        self.lr = lr
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minLRRatio = minLRRatio
    }

    enum CodingKeys: String, CodingKey {
        case kind = "scheduler", lr, warmupSteps = "warmup_steps", totalSteps = "total_steps", minLRRatio = "min_lr_ratio"
    }

    /// The rate for 0-based optimizer `step`:
    /// warmup lr·(s+1)/W; then with progress p ∈ [0, 1] over the remaining steps,
    /// cosine: lr_min + (lr − lr_min)·½(1 + cos πp); linear: lr + (lr_min − lr)·p; constant: lr.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return lr * Float(step + 1) / Float(warmupSteps) }
        let minLR = lr * minLRRatio
        let span = max(1, totalSteps - warmupSteps - 1)
        let p = min(1, Float(step - warmupSteps) / Float(span))
        switch kind {
        case .constant: return lr
        case .linear: return lr + (minLR - lr) * p
        case .cosine: return minLR + (lr - minLR) * 0.5 * (1 + cosf(.pi * p))
        }
    }
}
