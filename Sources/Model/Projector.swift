import Tensor

/// LLaVA's multimodal projector from vision features to the decoder's embedding space.
///
/// - `linear`:      y = x·W₁ᵀ + b₁
/// - `mlp2x_gelu`:  y = GELU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂   (GELU in its tanh form; LLaVA's is erf-based,
///   the two differ by under 1e-3 and this project trains its projectors itself)
///
/// x: (N, Dv)  y: (N, D). Tensor names: `multi_modal_projector.linear_1.*`, `.linear_2.*`.
public final class Projector: @unchecked Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case linear
        case mlp2xGELU = "mlp2x_gelu"
    }

    public let kind: Kind
    public let inputSize: Int
    public let outputSize: Int
    public let parameters: Parameters
    public static let prefix = "multi_modal_projector."

    public static func parameterTable(kind: Kind, inputSize: Int, outputSize: Int) -> [ParameterInfo] {
        var t = [ParameterInfo(name: prefix + "linear_1.weight", shape: [outputSize, inputSize]),
                 ParameterInfo(name: prefix + "linear_1.bias", shape: [outputSize])]
        if kind == .mlp2xGELU {
            t += [ParameterInfo(name: prefix + "linear_2.weight", shape: [outputSize, outputSize]),
                  ParameterInfo(name: prefix + "linear_2.bias", shape: [outputSize])]
        }
        return t
    }

    public init(kind: Kind, inputSize: Int, outputSize: Int) {
        self.kind = kind
        self.inputSize = inputSize
        self.outputSize = outputSize
        parameters = Parameters(Self.parameterTable(kind: kind, inputSize: inputSize, outputSize: outputSize))
    }

    /// Weights N(0, std²), biases 0.
    public func initialize(seed: UInt64, std: Float = 0.02) {
        var rng = SeededGenerator(seed: seed)
        for (i, p) in parameters.table.enumerated() {
            let t = parameters.value(at: i)
            for j in 0..<t.count { t[j] = p.shape.count == 2 ? rng.normal() * std : 0 }
        }
    }

    /// Activations for up to `rows` feature vectors.
    public final class Activations: @unchecked Sendable {
        public let arena: Arena
        let hidden: Tensor   // (N, D) linear_1 output
        let act: Tensor      // (N, D) GELU(hidden)
        /// (N, D) the projected features.
        public let output: Tensor
        let dact: Tensor     // (N, D)
        let dhidden: Tensor  // (N, D)

        init(rows N: Int, size D: Int) {
            let (arena, l) = Arena.build { allocate in (allocate([N, D]), allocate([N, D]), allocate([N, D]), allocate([N, D]), allocate([N, D])) }
            self.arena = arena
            (hidden, act, output, dact, dhidden) = l
        }
    }

    public func makeActivations(rows: Int) -> Activations { Activations(rows: rows, size: outputSize) }

    private func w(_ n: String) -> Tensor { parameters.value(Self.prefix + n) }
    private func g(_ n: String) -> Tensor? { parameters.gradient(Self.prefix + n) }

    /// Projects `x` (N, Dv) into `acts.output`.
    public func forward(_ x: Tensor, _ acts: Activations) {
        switch kind {
        case .linear:
            Linear.forward(y: acts.output, x: x, w: w("linear_1.weight"), b: w("linear_1.bias"))
        case .mlp2xGELU:
            Linear.forward(y: acts.hidden, x: x, w: w("linear_1.weight"), b: w("linear_1.bias"))
            GELU.forward(y: acts.act, x: acts.hidden)
            Linear.forward(y: acts.output, x: acts.act, w: w("linear_2.weight"), b: w("linear_2.bias"))
        }
    }

    /// From `dy` (N, D): adds into the trainable weights' gradients and, when given, into `dx` (N, Dv).
    public func backward(dy: Tensor, x: Tensor, dx: Tensor?, _ acts: Activations) {
        switch kind {
        case .linear:
            Linear.backward(dx: dx, dw: g("linear_1.weight"), db: g("linear_1.bias"), dy: dy, x: x, w: w("linear_1.weight"))
        case .mlp2xGELU:
            acts.dact.zero()
            Linear.backward(dx: acts.dact, dw: g("linear_2.weight"), db: g("linear_2.bias"), dy: dy, x: acts.act, w: w("linear_2.weight"))
            acts.dhidden.zero()
            GELU.backward(dx: acts.dhidden, dy: acts.dact, x: acts.hidden)
            Linear.backward(dx: dx, dw: g("linear_1.weight"), db: g("linear_1.bias"), dy: acts.dhidden, x: x, w: w("linear_1.weight"))
        }
    }
}

/// Puts visual tokens into a sequence's embeddings where its image placeholders are.
///
/// forward:  embeddings[to] = visual[from]        for each (from, to)   embeddings: (B·T, C)  visual: (K, C)
/// backward: dvisual[from] = dembeddings[to]      (the placeholders' own embeddings get nothing)
public enum ImageSplice {
    public static func forward(embeddings: Tensor, visual: Tensor, rows: [(from: Int, to: Int)]) {
        let C = embeddings.lastDimension
        precondition(visual.lastDimension == C)
        for (from, to) in rows { (embeddings.data + to * C).update(from: visual.data + from * C, count: C) }
    }

    public static func backward(dvisual: Tensor, dembeddings: Tensor, rows: [(from: Int, to: Int)]) {
        let C = dembeddings.lastDimension
        for (from, to) in rows { (dvisual.data + from * C).update(from: dembeddings.data + to * C, count: C) }
    }
}
