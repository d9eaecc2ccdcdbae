/// Fully connected layer.  Legend: N rows (batch × sequence), C input features, OC output features.
///
/// y = x · Wᵀ (+ b).   x: (N, C)   W: (OC, C)   b: (OC)   y: (N, OC)
public enum Linear {
    public static func forward(y: Tensor, x: Tensor, w: Tensor, b: Tensor? = nil) {
        let N = x.rowCount, OC = w.shape[0]
        precondition(w.lastDimension == x.lastDimension && y.count == N * OC, "linear: x \(x.shape) w \(w.shape) y \(y.shape)")
        GEMM.multiply(Matrix(x), Matrix(w), transposeB: true, into: Matrix(y.data, rows: N, columns: OC))
        if let b { addBias(y: y, b: b, rows: N, columns: OC) }
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
