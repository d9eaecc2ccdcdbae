import Model
import Tensor

/// Global gradient-norm clipping over every trainable tensor.
public enum GradientClipping {
    /// The global L2 norm of the gradients of every table.
    public static func norm(_ sets: [Parameters]) -> Float {
        var sum: Double = 0
        for p in sets { for s in p.trainableSlots { sum += Elementwise.sumOfSquares(p.gradient(s)!) } }
        return Float(sum.squareRoot())
    }

    public static func norm(_ parameters: Parameters) -> Float { norm([parameters]) }

    /// Scales all gradients by maxNorm / norm when the global norm exceeds `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clip(_ sets: [Parameters], maxNorm: Float) -> Float {
        let n = norm(sets)
        if maxNorm > 0, n > maxNorm, n.isFinite {
            let s = maxNorm / (n + 1e-6)
            for p in sets { for slot in p.trainableSlots { Elementwise.scale(p.gradient(slot)!, by: s) } }
        }
        return n
    }

    @discardableResult
    public static func clip(_ parameters: Parameters, maxNorm: Float) -> Float { clip([parameters], maxNorm: maxNorm) }
}
