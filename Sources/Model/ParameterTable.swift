import SafeTensors
import Tensor

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

    /// The gradient of `name`, or nil when it is frozen.
    public func gradient(_ name: String) -> Tensor? {
        guard let i = index[name] else { preconditionFailure("no parameter \(name)") }
        return gradientViews[i]
    }

    public func gradient(at i: Int) -> Tensor? { gradientViews[i] }

    /// Indices of trainable tensors.
    public var trainableIndices: [Int] { gradientViews.indices.filter { gradientViews[$0] != nil } }

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

    /// Copies every tensor from `file`, converting F16/BF16; a missing tensor or a shape that
    /// differs from the table is an error naming the file and the tensor.
    public func load(from file: SafeTensorsFile) throws {
        for (i, p) in table.enumerated() {
            try file.read(p.name, into: valueViews[i].buffer, shape: p.shape)
        }
    }

    /// Entries for `SafeTensorsWriter` over the value arena (valid while `self` lives).
    public var safeTensorsEntries: [SafeTensorsWriter.Entry] {
        table.enumerated().map { i, p in
            SafeTensorsWriter.Entry(name: p.name, shape: p.shape, data: UnsafeBufferPointer(valueViews[i].buffer))
        }
    }
}

/// Shell-style name patterns: `*` matches any run of characters (dots included), `?` one.
public enum Glob {
    public static func matches(_ name: String, pattern: String) -> Bool {
        let s = Array(name.utf8), p = Array(pattern.utf8)
        var si = 0, pi = 0, star = -1, mark = 0
        while si < s.count {
            if pi < p.count && (p[pi] == UInt8(ascii: "?") || p[pi] == s[si]) {
                si += 1; pi += 1
            } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi; mark = si; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
