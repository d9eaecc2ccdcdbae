import SafeTensors
import Tensor

/// The model's parameters: one table of `(name, shape, decays)` that lays out the value
/// arena, names safetensors keys, selects trainable groups by glob, and sizes the gradient
/// arena for the trainable tensors only (frozen tensors cost no gradient memory).
public final class Parameters: @unchecked Sendable {
    public let table: [ParameterInfo]
    public let values: Arena
    private let valueViews: [Tensor]
    private let index: [String: Int]
    /// Gradients of the trainable tensors, in table order; nil when nothing trains.
    public private(set) var gradients: Arena?
    private var gradientViews: [Tensor?]

    public init(_ table: [ParameterInfo]) {
        self.table = table
        let values = Arena(capacity: Arena.capacity(for: table.map(\.shape)))
        self.values = values
        valueViews = table.map { values.allocate($0.shape) }
        index = Dictionary(uniqueKeysWithValues: table.enumerated().map { ($1.name, $0) })
        gradientViews = Array(repeating: nil, count: table.count)
        keepAlive = nil
    }

    /// A read-only snapshot of `source` (nothing in it trains): the tensors at `copied` get memory
    /// of their own holding their current values; every other tensor is a view of `source`'s
    /// value, valid while `source` lives and meant for tensors that do not change (frozen ones).
    public init(snapshotOf source: Parameters, copying copied: Set<Int>) {
        table = source.table
        index = source.index
        let values = Arena(capacity: Arena.capacity(for: copied.sorted().map { source.table[$0].shape }))
        self.values = values
        valueViews = source.table.indices.map { i in
            guard copied.contains(i) else { return source.valueViews[i] }
            let t = values.allocate(source.table[i].shape)
            t.copy(from: source.valueViews[i])
            return t
        }
        gradientViews = Array(repeating: nil, count: table.count)
        keepAlive = source
    }
    /// The parameters a snapshot's shared views point into.
    private let keepAlive: Parameters?

    public var count: Int { table.reduce(0) { $0 + $1.count } }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func value(_ name: String) -> Tensor {
        guard let i = index[name] else { preconditionFailure("no parameter \(name)") }
        return valueViews[i]
    }

    public func value(at i: Int) -> Tensor { valueViews[i] }

    /// The value of the tensor at `slot`.
    @inline(__always) public func value(_ slot: ParameterSlot) -> Tensor { valueViews[slot.index] }
    /// The value at `slot`, or nil for an absent optional tensor (a bias the config leaves out).
    @inline(__always) public func value(_ slot: ParameterSlot?) -> Tensor? { slot.map { valueViews[$0.index] } }

    /// The gradient of `name`, or nil when it is frozen.
    public func gradient(_ name: String) -> Tensor? {
        guard let i = index[name] else { preconditionFailure("no parameter \(name)") }
        return gradientViews[i]
    }

    public func gradient(at i: Int) -> Tensor? { gradientViews[i] }

    /// The gradient of the tensor at `slot`, or nil when it is frozen (or the slot absent).
    @inline(__always) public func gradient(_ slot: ParameterSlot?) -> Tensor? { slot.flatMap { gradientViews[$0.index] } }

    /// Indices of trainable tensors.
    public var trainableIndices: [Int] { gradientViews.indices.filter { gradientViews[$0] != nil } }
    /// Slots of the trainable tensors, in table order.
    public var trainableSlots: [ParameterSlot] { trainableIndices.map(ParameterSlot.init) }

    /// The table entry (name, shape) of the tensor at `slot`.
    public func info(_ slot: ParameterSlot) -> ParameterInfo { table[slot.index] }

    /// Makes exactly the tensors whose names match one of `patterns` trainable (`*` any run
    /// of characters, `?` one; a pattern starting with `!` excludes what it matches, so
    /// `["*", "!*.wings.*"]` is everything but Wings' learners) and re-lays the gradient arena
    /// for them. Returns their names.
    @discardableResult
    public func setTrainable(matching patterns: [String]) -> [String] {
        let include = patterns.filter { !$0.hasPrefix("!") }, exclude = patterns.filter { $0.hasPrefix("!") }.map { String($0.dropFirst()) }
        let chosen = table.indices.filter { i in
            include.contains { Glob.matches(table[i].name, pattern: $0) } && !exclude.contains { Glob.matches(table[i].name, pattern: $0) }
        }
        gradients = chosen.isEmpty ? nil : Arena(capacity: Arena.capacity(for: chosen.map { table[$0].shape }))
        gradientViews = Array(repeating: nil, count: table.count)
        for i in chosen { gradientViews[i] = gradients!.allocate(table[i].shape) }
        return chosen.map { table[$0].name }
    }

    public func zeroGradients() { gradients?.zero() }

    /// Copies every tensor from `file` (one file or a sharded set), converting F16/BF16; a
    /// missing tensor, a shape that differs from the table, or a NaN or infinite value (a model
    /// scored with one would be silently wrong; ``NonFiniteWeights``) is an error naming the file and the tensor.
    public func load(from file: SafeTensorsCheckpoint) throws {
        for (i, p) in table.enumerated() {
            let values = valueViews[i].buffer
            try file.read(p.name, into: values, shape: p.shape)
            var bad = 0
            for v in values where !v.isFinite { bad += 1 }
            if bad > 0 { try NonFiniteWeights.handle(count: bad, of: values.count, tensor: file.storedName(p.name), file: file.path) }
        }
    }

    /// Entries for `SafeTensorsWriter` over the value arena (valid while `self` lives).
    public var safeTensorsEntries: [SafeTensorsWriter.Entry] {
        table.enumerated().map { i, p in
            SafeTensorsWriter.Entry(name: p.name, shape: p.shape, data: UnsafeBufferPointer(valueViews[i].buffer))
        }
    }
}

