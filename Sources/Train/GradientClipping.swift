import Model
import Tensor

/// Global gradient-norm clipping over every trainable tensor.
public enum GradientClipping {
    /// The global L2 norm of the gradients.
    public static func norm(_ parameters: Parameters) -> Float {
        var sum: Double = 0
        for i in parameters.trainableIndices { sum += Elementwise.sumOfSquares(parameters.gradient(at: i)!) }
        return Float(sum.squareRoot())
    }

    /// Scales all gradients by maxNorm / norm when the norm exceeds `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clip(_ parameters: Parameters, maxNorm: Float) -> Float {
        let n = norm(parameters)
        if maxNorm > 0, n > maxNorm, n.isFinite {
            let s = maxNorm / (n + 1e-6)
            for i in parameters.trainableIndices { Elementwise.scale(parameters.gradient(at: i)!, by: s) }
        }
        return n
    }
}
