/// One named parameter tensor.
public struct ParameterInfo: Sendable, Equatable {
    /// Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    public let name: String
    public let shape: [Int]
    /// Weight decay applies (matrices, including embeddings; never norms or biases).
    public let decays: Bool

    public init(name: String, shape: [Int], decays: Bool? = nil) {
        self.name = name
        self.shape = shape
        self.decays = decays ?? (shape.count >= 2)
    }

    public var count: Int { shape.reduce(1, *) }
}

/// A tensor's place in its parameter table: what `Parameters` resolves to a value or a gradient.
///
/// Models keep slots, never names: the builder hands one out as each tensor is declared, so
/// the table and the slots come from the same line and no hot path looks a name up.
public struct ParameterSlot: Hashable, Sendable {
    public let index: Int
    public init(_ index: Int) { self.index = index }
}

/// Declares a parameter table tensor by tensor, returning each tensor's slot.
///
///     var table = ParameterTableBuilder()
///     let embed = table.add("model.embed_tokens.weight", [V, C])
///     let bias = table.add("model.layers.0.self_attn.q_proj.bias", [QC], if: config.qkvBias)
public struct ParameterTableBuilder: Sendable {
    public private(set) var table: [ParameterInfo] = []

    public init() {}

    /// Appends a tensor (Hugging Face name, shape; weight decay by default on matrices only).
    public mutating func add(_ name: String, _ shape: [Int], decays: Bool? = nil) -> ParameterSlot {
        table.append(ParameterInfo(name: name, shape: shape, decays: decays))
        return ParameterSlot(table.count - 1)
    }

    /// Appends a tensor when `condition` holds (an optional bias); nil otherwise.
    public mutating func add(_ name: String, _ shape: [Int], if condition: Bool) -> ParameterSlot? {
        condition ? add(name, shape) : nil
    }
}
