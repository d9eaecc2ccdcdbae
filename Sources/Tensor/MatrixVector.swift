import CKernels

/// Y = X·Wᵀ for a few rows of X against a weight matrix: a decode step's products, bound by the
/// memory bandwidth of reading W. Each weight row is read once for every row of X (the CKernels
/// variant this CPU runs: AVX-512, AVX2 or portable), and W is split over the cores by rows, so
/// each core reads an equal share of its bytes.
///
///   x: (M, K)   w: (N, K) float32 or bfloat16   y: (M, N)
public enum MatrixVector {
    /// Products with at most this many rows of X take this path; wider ones are sgemm's
    /// (float32) or sgemm over float32 blocks of the weights (bfloat16, ``Linear``).
    public static let maxRows = 8

    /// Below this many bytes of W the product runs on one core: splitting costs a dispatch
    /// (microseconds) that reading a small matrix does not repay.
    public static let splitBytes = 1 << 18

    /// The instruction set of the kernels in use ("avx512", "avx2" or "portable"; `MLLM_CL_KERNEL` chooses among those the CPU has).
    public static var kernel: String { String(cString: mk_isa_name(mk_isa_active())) }

    public static func multiply(_ x: Matrix, _ w: WeightMatrix, into y: Matrix) {
        let M = x.rows, K = x.columns, N = w.rows
        precondition(w.columns == K && y.rows == M && y.columns == N, "matrix-vector shapes: x \(M)x\(K), w \(N)x\(w.columns), y \(y.rows)x\(y.columns)")
        let parts = w.bytes >= splitBytes ? Parallel.workers : 1
        let run = UncheckedSendable((x, w, y))
        Parallel.forEachIndex(parts) { p in
            let (x, w, y) = run.value
            // Shares in whole blocks of 4 rows (the kernels' register block).
            let n0 = N * p / parts & ~3, n1 = p == parts - 1 ? N : N * (p + 1) / parts & ~3
            switch w {
            case .f32(let t): mk_linear_f32(Int32(M), Int32(K), x.data, x.stride, t.data, Int32(n0), Int32(n1), y.data, y.stride)
            case .bf16(let b): mk_linear_bf16(Int32(M), Int32(K), x.data, x.stride, b.data, Int32(n0), Int32(n1), y.data, y.stride)
            }
        }
    }
}
