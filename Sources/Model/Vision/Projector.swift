import Tensor

/// LLaVA's multimodal projector from vision features to the decoder's embedding space.
///
/// - `linear`:      y = x·W₁ᵀ + b₁
/// - `mlp2x_gelu`:  y = act(x·W₁ᵀ + b₁)·W₂ᵀ + b₂   (transformers' `LlavaMultiModalProjector`;
///   `act` is `projector_hidden_act`: LLaVA's `gelu` is the exact erf form)
///
/// The biases are left out with `multimodal_projector_bias: false`.
/// x: (N, Dv)  y: (N, D). Tensor names: `multi_modal_projector.linear_1.*`, `.linear_2.*`.
public final class Projector: @unchecked Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case linear
        case mlp2xGELU = "mlp2x_gelu"
    }

    public let kind: Kind
    public let inputSize: Int
    public let outputSize: Int
    public let activation: Activation
    public let parameters: Parameters
    let layout: Layout
    public static let prefix = "multi_modal_projector."

    /// The projector's parameter table and slots, declared once.
    struct Layout {
        let table: [ParameterInfo]
        let weight1: ParameterSlot                   // (D, Dv)
        let bias1: ParameterSlot?                    // (D)
        let weight2, bias2: ParameterSlot?           // (D, D), (D): mlp2x_gelu only

        init(kind: Kind, inputSize: Int, outputSize: Int, bias: Bool) {
            var t = ParameterTableBuilder()
            weight1 = t.add(prefix + "linear_1.weight", [outputSize, inputSize])
            bias1 = t.add(prefix + "linear_1.bias", [outputSize], if: bias)
            weight2 = t.add(prefix + "linear_2.weight", [outputSize, outputSize], if: kind == .mlp2xGELU)
            bias2 = t.add(prefix + "linear_2.bias", [outputSize], if: kind == .mlp2xGELU && bias)
            table = t.table
        }
    }

    public init(kind: Kind, inputSize: Int, outputSize: Int, activation: Activation = .gelu, bias: Bool = true) {
        self.kind = kind
        self.inputSize = inputSize
        self.outputSize = outputSize
        self.activation = activation
        layout = Layout(kind: kind, inputSize: inputSize, outputSize: outputSize, bias: bias)
        parameters = Parameters(layout.table)
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
        let act: Tensor      // (N, D) act(hidden)
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

    private func w(_ s: ParameterSlot) -> Tensor { parameters.value(s) }
    private func w(_ s: ParameterSlot?) -> Tensor? { parameters.value(s) }
    private func g(_ s: ParameterSlot?) -> Tensor? { parameters.gradient(s) }

    /// Projects `x` (N, Dv) into `acts.output`.
    public func forward(_ x: Tensor, _ acts: Activations) {
        switch kind {
        case .linear:
            Linear.forward(y: acts.output, x: x, w: w(layout.weight1), b: w(layout.bias1))
        case .mlp2xGELU:
            Linear.forward(y: acts.hidden, x: x, w: w(layout.weight1), b: w(layout.bias1))
            activation.forward(y: acts.act, x: acts.hidden)
            Linear.forward(y: acts.output, x: acts.act, w: w(layout.weight2)!, b: w(layout.bias2))
        }
    }

    /// From `dy` (N, D): adds into the trainable weights' gradients and, when given, into `dx` (N, Dv).
    public func backward(dy: Tensor, x: Tensor, dx: Tensor?, _ acts: Activations) {
        switch kind {
        case .linear:
            Linear.backward(dx: dx, dw: g(layout.weight1), db: g(layout.bias1), dy: dy, x: x, w: w(layout.weight1))
        case .mlp2xGELU:
            acts.dact.zero()
            Linear.backward(dx: acts.dact, dw: g(layout.weight2), db: g(layout.bias2), dy: dy, x: acts.act, w: w(layout.weight2)!)
            acts.dhidden.zero()
            activation.backward(dx: acts.dhidden, dy: acts.dact, x: acts.hidden)
            Linear.backward(dx: dx, dw: g(layout.weight1), db: g(layout.bias1), dy: acts.dhidden, x: x, w: w(layout.weight1))
        }
    }
}

extension Projector {
    /// Copies the `multi_modal_projector.*` tensors of the checkpoint in `directory` (this
    /// project's or a LLaVA one, either layout). A projector whose input width is not
    /// `towerWidth` (the tower of `towerSource`), or whose output is not the decoder's width, is
    /// an error naming both.
    public func load(fromCheckpoint directory: String, towerWidth: Int, towerSource: String) throws {
        let weights = try CheckpointWeights.open(directory: directory)
        let first = Self.prefix + "linear_1.weight"
        guard weights.contains(first) else {
            throw ModelError("\(weights.path): no tensor '\(first)' (or a LLaVA name for it): not a checkpoint with a projector")
        }
        let shape = try weights.info(first).shape
        guard shape.count == 2, shape[1] == towerWidth else {
            throw ModelError("\(weights.path): '\(weights.storedName(first))' has shape \(shape): it projects from \(shape.last ?? 0)-wide features, but the tower (\(towerSource)) is \(towerWidth) wide (hidden_size)")
        }
        guard shape[0] == outputSize else {
            throw ModelError("\(weights.path): '\(weights.storedName(first))' has shape \(shape): it projects to \(shape[0]) wide, but the decoder's hidden_size is \(outputSize)")
        }
        try parameters.load(from: weights)
    }
}
