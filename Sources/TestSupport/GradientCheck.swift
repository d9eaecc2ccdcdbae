import Foundation
import Tensor

/// Finite-difference gradient checking for tests: with a scalar
/// loss L = Σ out ⊙ dout, each checked element's analytic gradient is compared with
/// the central difference (L(x + ε) − L(x − ε)) / 2ε.
public enum GradientCheck {
    /// Relative error ‖fd − analytic‖ / max(‖fd‖, ‖analytic‖) over the checked elements
    /// of `input` (all of them, or `maxElements` spread evenly). `loss` recomputes the
    /// scalar loss from the current contents of `input`; `input` is restored afterwards.
    public static func relativeError(of input: Tensor, analytic: Tensor, eps: Float = 1e-2, maxElements: Int = .max,
                                     loss: () -> Double) -> Double {
        precondition(input.count == analytic.count)
        let stride = Swift.max(1, input.count / Swift.min(input.count, maxElements))
        var diff = 0.0, normFD = 0.0, normAnalytic = 0.0
        for i in Swift.stride(from: 0, to: input.count, by: stride) {
            let saved = input[i]
            input[i] = saved + eps
            let plus = loss()
            input[i] = saved - eps
            let minus = loss()
            input[i] = saved
            let fd = (plus - minus) / Double(2 * eps)
            let a = Double(analytic[i])
            diff += (fd - a) * (fd - a)
            normFD += fd * fd
            normAnalytic += a * a
        }
        let scale = Swift.max(normFD, normAnalytic).squareRoot()
        return scale < 1e-12 ? diff.squareRoot() : diff.squareRoot() / scale
    }

    /// Σ out ⊙ weights in Double.
    public static func dot(_ out: Tensor, _ weights: Tensor) -> Double {
        var s = 0.0
        for i in 0..<out.count { s += Double(out[i]) * Double(weights[i]) }
        return s
    }
}

/// Owns test tensors (each its own arena) filled with seeded random values.
public final class TestTensors {
    private var arenas: [Arena] = []
    public var rng: SeededGenerator

    public init(seed: UInt64 = 42) { rng = SeededGenerator(seed: seed) }

    /// A tensor of `shape` with uniform values in [−scale, scale] (0 for `scale` 0).
    public func make(_ shape: [Int], scale: Float = 1, offset: Float = 0) -> Tensor {
        let arena = Arena(capacity: shape.reduce(1, *))
        arenas.append(arena)
        let t = arena.allocate(shape)
        for i in 0..<t.count { t[i] = offset + scale * (2 * rng.uniform() - 1) }
        return t
    }

    public func zeros(_ shape: [Int]) -> Tensor { make(shape, scale: 0) }
}
