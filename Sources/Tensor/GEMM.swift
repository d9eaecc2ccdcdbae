import CBLAS

/// A row-major matrix view: `rows` × `columns`, consecutive rows `stride` floats apart.
/// A head's slice of a (T, NH·hs) activation is `Matrix(q, offset: h·hs, rows: T, columns: hs, stride: NH·hs)`.
public struct Matrix: @unchecked Sendable {
    public let data: UnsafeMutablePointer<Float>
    public let rows: Int
    public let columns: Int
    public let stride: Int

    public init(_ data: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int? = nil) {
        precondition(stride ?? columns >= columns, "stride smaller than the row")
        self.data = data
        self.rows = rows
        self.columns = columns
        self.stride = stride ?? columns
    }

    /// `tensor` viewed as (count / last, last).
    public init(_ tensor: Tensor) {
        self.init(tensor.data, rows: tensor.rowCount, columns: tensor.lastDimension)
    }

    /// A sub-block of `tensor` seen as rows of length `stride`: `rows` × `columns` starting at `offset`.
    public init(_ tensor: Tensor, offset: Int, rows: Int, columns: Int, stride: Int) {
        precondition(offset + (rows - 1) * stride + columns <= tensor.count, "matrix view out of bounds of \(tensor.shape)")
        self.init(tensor.data + offset, rows: rows, columns: columns, stride: stride)
    }
}

/// General matrix multiply, the only call site of `cblas_sgemm`.
public enum GEMM {
    /// c = alpha · op(a) · op(b) + beta · c, where op(x) is x or xᵀ.
    ///
    /// Shapes: op(a) (M, K), op(b) (K, N), c (M, N).
    public static func multiply(_ a: Matrix, transposeA: Bool = false, _ b: Matrix, transposeB: Bool = false,
                                into c: Matrix, alpha: Float = 1, beta: Float = 0) {
        let m = transposeA ? a.columns : a.rows
        let k = transposeA ? a.rows : a.columns
        let kb = transposeB ? b.columns : b.rows
        let n = transposeB ? b.rows : b.columns
        precondition(k == kb && c.rows == m && c.columns == n,
                     "gemm shapes: op(a) \(m)x\(k), op(b) \(kb)x\(n), c \(c.rows)x\(c.columns)")
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c.data[i * c.stride + j] *= beta } }
            return
        }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a.data, Int32(a.stride), b.data, Int32(b.stride),
                    beta, c.data, Int32(c.stride))
    }

    /// The batched form: runs `count` independent small products (`body(i)` calls
    /// `multiply`) spread over the cores, with OpenBLAS itself single-threaded meanwhile.
    /// Small products (attention heads) run far faster this way than each on two BLAS threads.
    public static func batched(_ count: Int, _ body: (Int) -> Void) {
        let threads = openblas_get_num_threads()
        if threads > 1 && count > 1 { openblas_set_num_threads(1) }
        defer { if threads > 1 && count > 1 { openblas_set_num_threads(threads) } }
        Parallel.forEachIndex(count, body)
    }

    /// Sets OpenBLAS's thread count (used by `bench` to measure one and two threads).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
}
