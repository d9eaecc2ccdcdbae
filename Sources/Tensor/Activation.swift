import Foundation

/// The element-wise activations of Hugging Face's vision towers and LLaVA's projector, by their
/// `hidden_act` / `projector_hidden_act` names (transformers' `ACT2FN`):
///
/// - `quick_gelu` (OpenAI CLIP):            y = x·σ(1.702·x)
/// - `gelu` (exact, erf; LLaVA's projector): y = ½·x·(1 + erf(x/√2))
/// - `gelu_pytorch_tanh` (SigLIP; also read from `gelu_new`): the tanh approximation, ``GELU``
///
/// x, y: any shape, same count. `backward` adds into dx.
public enum Activation: String, Codable, Sendable, CaseIterable {
    case quickGELU = "quick_gelu"
    case gelu = "gelu"
    case geluTanh = "gelu_pytorch_tanh"

    /// The activation transformers means by `name` (`gelu_new` and `gelu_fast`'s formula is the
    /// tanh form); nil for a name this project does not implement.
    public init?(huggingFace name: String) {
        if let a = Activation(rawValue: name) { self = a; return }
        guard name == "gelu_new" else { return nil }
        self = .geluTanh
    }

    /// The names `init(huggingFace:)` accepts, for messages.
    public static var huggingFaceNames: [String] { allCases.map(\.rawValue) + ["gelu_new"] }

    public func forward(y: Tensor, x: Tensor) {
        precondition(y.count == x.count)
        switch self {
        case .geluTanh: GELU.forward(y: y, x: x)
        case .quickGELU: Self.map(y, x) { v in v / (1 + expf(-QuickGELU.k * v)) }
        case .gelu: Self.map(y, x) { v in 0.5 * v * (1 + erff(v * ExactGELU.invSqrt2)) }
        }
    }

    public func backward(dx: Tensor, dy: Tensor, x: Tensor) {
        precondition(dx.count == x.count && dy.count == x.count)
        switch self {
        case .geluTanh: GELU.backward(dx: dx, dy: dy, x: x)
        case .quickGELU:
            // dy/dx = s + 1.702·x·s·(1 − s),  s = σ(1.702·x)
            Self.accumulate(dx, dy, x) { v in
                let s = 1 / (1 + expf(-QuickGELU.k * v))
                return s + QuickGELU.k * v * s * (1 - s)
            }
        case .gelu:
            // dy/dx = Φ(x) + x·φ(x),  Φ(x) = ½(1 + erf(x/√2)),  φ(x) = exp(−x²/2)/√(2π)
            Self.accumulate(dx, dy, x) { v in
                0.5 * (1 + erff(v * ExactGELU.invSqrt2)) + v * expf(-0.5 * v * v) * ExactGELU.invSqrt2Pi
            }
        }
    }

    private enum QuickGELU { static let k: Float = 1.702 }
    private enum ExactGELU {
        static let invSqrt2: Float = 0.7071067811865476
        static let invSqrt2Pi: Float = 0.3989422804014327
    }

    @inline(__always)
    private static func map(_ y: Tensor, _ x: Tensor, _ f: (Float) -> Float) {
        Parallel.forEach(x.count, costPerItem: 10) { range in
            for i in range { y.data[i] = f(x.data[i]) }
        }
    }

    @inline(__always)
    private static func accumulate(_ dx: Tensor, _ dy: Tensor, _ x: Tensor, _ derivative: (Float) -> Float) {
        Parallel.forEach(x.count, costPerItem: 12) { range in
            for i in range { dx.data[i] += dy.data[i] * derivative(x.data[i]) }
        }
    }
}
