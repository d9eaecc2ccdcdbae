import CKernels

/// A weight matrix (rows, columns) held as bfloat16: the upper 16 bits of each float32, rounded to
/// nearest even. Half the bytes of float32, so a memory-bound product (a decode step) reads it
/// in half the time; kernels widen it to float32 in registers and accumulate in float32.
public final class BF16Matrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    public let data: UnsafeMutablePointer<UInt16>

    /// `source` (rows, columns) rounded to bfloat16.
    public init(_ source: Tensor) {
        rows = source.shape.count == 1 ? 1 : source.rowCount
        columns = source.lastDimension
        data = .allocate(capacity: source.count)
        mk_f32_to_bf16(source.data, data, source.count)
    }

    deinit { data.deallocate() }

    public var bytes: Int { 2 * rows * columns }

    /// The matrix widened back to float32 (exact), for tests and slow paths.
    public func floats() -> [Float] {
        var out = [Float](repeating: 0, count: rows * columns)
        out.withUnsafeMutableBufferPointer { mk_bf16_to_f32(data, $0.baseAddress!, rows * columns) }
        return out
    }
}

/// A Linear layer's weight (OC, C) as a product reads it.
public enum WeightMatrix: @unchecked Sendable {
    /// The parameters' own float32 values.
    case f32(Tensor)
    /// A bfloat16 copy (inference only: it does not follow training updates).
    case bf16(BF16Matrix)

    public var rows: Int {
        switch self {
        case .f32(let t): t.shape[0]
        case .bf16(let m): m.rows
        }
    }

    public var columns: Int {
        switch self {
        case .f32(let t): t.lastDimension
        case .bf16(let m): m.columns
        }
    }

    /// Bytes a product reads.
    public var bytes: Int {
        switch self {
        case .f32(let t): 4 * t.count
        case .bf16(let m): m.bytes
        }
    }
}
