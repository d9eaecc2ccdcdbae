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
///
/// OpenBLAS runs single-threaded; large products are split here into one block of rows
/// (or columns) per core, each a single-threaded `sgemm`. Measured on this machine that is
/// as fast as OpenBLAS's own threads, and it needs no global thread-count changes, so any
/// number of callers (parallel tests, attention heads) can multiply at once.
public enum GEMM {
    /// Products with at least this many multiply-adds are split over the cores.
    public static let splitThreshold = 1 << 20

    private static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// How a product is spread over the cores.
    public enum Split: Sendable, Equatable {
        /// One single-threaded sgemm (small products, or one core).
        case none
        /// One block of c's rows per core (rows of op(a)).
        case rows
        /// One block of c's columns per core (columns of op(b)): when there are too few rows.
        case columns
    }

    /// The split of an (M, K)·(K, N) product: over the cores from `splitThreshold` multiply-adds,
    /// by rows when there are at least 64 per core, else by columns.
    public static func split(m: Int, n: Int, k: Int) -> Split {
        let parts = Parallel.workers
        guard parts > 1, m * n * k >= splitThreshold else { return .none }
        return m >= 64 * parts ? .rows : .columns
    }

    /// c = alpha · op(a) · op(b) + beta · c, where op(x) is x or xᵀ.
    ///
    /// Shapes: op(a) (M, K), op(b) (K, N), c (M, N).
    /// `split: false` keeps the product on the calling core (a caller already spread over them).
    public static func multiply(_ a: Matrix, transposeA: Bool = false, _ b: Matrix, transposeB: Bool = false,
                                into c: Matrix, alpha: Float = 1, beta: Float = 0, split allowed: Bool = true) {
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
        let parts = Parallel.workers
        switch allowed ? split(m: m, n: n, k: k) : .none {
        case .none:
            sgemm(a, transposeA, b, transposeB, c, m, n, k, alpha, beta)
        case .rows:
            // Rows of c come from rows of op(a): a's rows, or a's columns when transposed.
            Parallel.forEachIndex(parts) { p in
                let r0 = m * p / parts, r1 = m * (p + 1) / parts
                let ap = transposeA ? Matrix(a.data + r0, rows: a.rows, columns: r1 - r0, stride: a.stride)
                                    : Matrix(a.data + r0 * a.stride, rows: r1 - r0, columns: a.columns, stride: a.stride)
                let cp = Matrix(c.data + r0 * c.stride, rows: r1 - r0, columns: n, stride: c.stride)
                sgemm(ap, transposeA, b, transposeB, cp, r1 - r0, n, k, alpha, beta)
            }
        case .columns:
            // Columns of c come from columns of op(b): b's columns, or b's rows when transposed.
            Parallel.forEachIndex(parts) { p in
                let c0 = n * p / parts, c1 = n * (p + 1) / parts
                let bp = transposeB ? Matrix(b.data + c0 * b.stride, rows: c1 - c0, columns: b.columns, stride: b.stride)
                                    : Matrix(b.data + c0, rows: b.rows, columns: c1 - c0, stride: b.stride)
                let cp = Matrix(c.data + c0, rows: m, columns: c1 - c0, stride: c.stride)
                sgemm(a, transposeA, bp, transposeB, cp, m, c1 - c0, k, alpha, beta)
            }
        }
    }

    @inline(__always)
    private static func sgemm(_ a: Matrix, _ ta: Bool, _ b: Matrix, _ tb: Bool, _ c: Matrix,
                              _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ beta: Float) {
        _ = singleThreaded
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a.data, Int32(a.stride), b.data, Int32(b.stride),
                    beta, c.data, Int32(c.stride))
    }

    /// The batched form: `count` independent products (`body(i)` calls `multiply`), spread
    /// over the cores. Small products (attention heads) run far faster this way than split one by one.
    public static func batched(_ count: Int, _ body: (Int) -> Void) {
        Parallel.forEachIndex(count, body)
    }

    /// How many cores a large product is split over.
    public static var threads: Int { Parallel.workers }
}
