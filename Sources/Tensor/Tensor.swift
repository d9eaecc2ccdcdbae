/// A shaped view of Float32 memory owned by someone else (usually an `Arena`).
///
/// Views are cheap values: reshaping or slicing never copies. Build views once, outside
/// the training step; a step only passes them to kernels.
public struct Tensor: @unchecked Sendable {
    /// First element.
    public let data: UnsafeMutablePointer<Float>
    /// Row-major shape.
    public let shape: [Int]
    /// Number of elements, `shape.reduce(1, *)`.
    public let count: Int

    public init(_ data: UnsafeMutablePointer<Float>, shape: [Int]) {
        self.data = data
        self.shape = shape
        self.count = shape.reduce(1, *)
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }
    public var array: [Float] { Array(buffer) }

    public subscript(i: Int) -> Float {
        get { data[i] }
        nonmutating set { data[i] = newValue }
    }

    /// The same elements seen with another shape of equal size.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "reshape \(shape) -> \(newShape) changes the size")
        return Tensor(data, shape: newShape)
    }

    /// The `index`-th sub-tensor along the first axis.
    public func slice(_ index: Int) -> Tensor {
        precondition(!shape.isEmpty && index >= 0 && index < shape[0], "slice \(index) out of \(shape)")
        let inner = Array(shape.dropFirst())
        return Tensor(data + index * (count / shape[0]), shape: inner)
    }

    /// Rows `range` along the first axis.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0], "rows \(range) out of \(shape)")
        var s = shape
        s[0] = range.count
        return Tensor(data + range.lowerBound * (count / shape[0]), shape: s)
    }

    /// Size of the last axis (the row length of a matrix view).
    public var lastDimension: Int { shape.last ?? 1 }
    /// Number of rows when viewed as (count / last, last).
    public var rowCount: Int { count / Swift.max(lastDimension, 1) }

    public func zero() { data.update(repeating: 0, count: count) }
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy \(other.shape) -> \(shape)")
        data.update(from: other.data, count: count)
    }
    public func copy(from values: [Float]) {
        precondition(values.count == count, "copy \(values.count) floats -> \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }
}
