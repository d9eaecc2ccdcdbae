import CKernels

/// Fully connected layer.  Legend: N rows (batch × sequence), C input features, OC output features.
///
/// y = x · Wᵀ (+ b).   x: (N, C)   W: (OC, C)   b: (OC)   y: (N, OC)
public enum Linear {
    public static func forward(y: Tensor, x: Tensor, w: Tensor, b: Tensor? = nil) {
        forward(y: y, x: x, w: .f32(w), b: b)
    }

    /// The forward pass over float32 or bfloat16 weights: few rows (a decode step) through
    /// ``MatrixVector``, more through sgemm (bfloat16 weights widened block by block).
    public static func forward(y: Tensor, x: Tensor, w: WeightMatrix, b: Tensor? = nil) {
        let N = x.rowCount, OC = w.rows
        precondition(w.columns == x.lastDimension && y.count == N * OC, "linear: x \(x.shape) w \(w.rows)x\(w.columns) y \(y.shape)")
        let out = Matrix(y.data, rows: N, columns: OC)
        switch w {
        case _ where N <= MatrixVector.maxRows: MatrixVector.multiply(Matrix(x), w, into: out)
        case .f32(let t): GEMM.multiply(Matrix(x), Matrix(t), transposeB: true, into: out)
        case .bf16(let m): multiplyWidening(Matrix(x), m, into: out)
        }
        if let b { addBias(y: y, b: b, rows: N, columns: OC) }
    }

    /// y = x·Wᵀ with bfloat16 W: each core widens its share of W's rows to float32, `block` rows
    /// at a time, and multiplies each block with one single-threaded sgemm.
    static func multiplyWidening(_ x: Matrix, _ w: BF16Matrix, into y: Matrix, block: Int = 128) {
        let K = w.columns, N = w.rows, parts = Parallel.workers
        let run = UncheckedSendable((x, w, y))
        Parallel.forEachIndex(parts) { p in
            let (x, w, y) = run.value
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: block * K)  // (block, K)
            defer { scratch.deallocate() }
            for r0 in stride(from: N * p / parts, to: N * (p + 1) / parts, by: block) {
                let rows = Swift.min(block, N * (p + 1) / parts - r0)
                mk_bf16_to_f32(w.data + r0 * K, scratch, rows * K)
                GEMM.multiply(x, Matrix(scratch, rows: rows, columns: K), transposeB: true,
                              into: Matrix(y.data + r0, rows: y.rows, columns: rows, stride: y.stride), split: false)
            }
        }
    }

    /// Adds into dx, dw, db (callers zero them once per step).
    ///   dx += dy · W     dW += dyᵀ · x     db += Σₙ dy
    public static func backward(dx: Tensor?, dw: Tensor?, db: Tensor?, dy: Tensor, x: Tensor, w: Tensor) {
        let N = x.rowCount, C = x.lastDimension, OC = w.shape[0]
        let dyM = Matrix(dy.data, rows: N, columns: OC)
        if let dx { GEMM.multiply(dyM, Matrix(w), into: Matrix(dx.data, rows: N, columns: C), beta: 1) }
        if let dw { GEMM.multiply(dyM, transposeA: true, Matrix(x), into: Matrix(dw.data, rows: OC, columns: C), beta: 1) }
        if let db {
            for n in 0..<N {
                let row = dy.data + n * OC
                for o in 0..<OC { db.data[o] += row[o] }
            }
        }
    }

    static func addBias(y: Tensor, b: Tensor, rows N: Int, columns OC: Int) {
        Parallel.forEach(N, costPerItem: OC) { range in
            for n in range {
                let row = y.data + n * OC
                for o in 0..<OC { row[o] += b.data[o] }
            }
        }
    }
}
