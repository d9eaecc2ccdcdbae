import Foundation

/// Row-wise softmax.  Legend: N rows, L row length.
///
/// y[n, j] = exp(x[n, j] − max) / Σₖ exp(x[n, k] − max).   x, y: (N, L) (may alias).
public enum Softmax {
    public static func forward(y: Tensor, x: Tensor) {
        let L = x.lastDimension
        Parallel.forEach(x.rowCount, costPerItem: L * 4) { range in
            for n in range { row(y.data + n * L, x.data + n * L, L) }
        }
    }

    /// Adds into dx.   dx += y ⊙ (dy − Σⱼ dy ⊙ y)
    public static func backward(dx: Tensor, dy: Tensor, y: Tensor) {
        let L = y.lastDimension
        Parallel.forEach(y.rowCount, costPerItem: L * 2) { range in
            for n in range {
                let yr = y.data + n * L, dyr = dy.data + n * L, dxr = dx.data + n * L
                var dot: Float = 0
                for j in 0..<L { dot += dyr[j] * yr[j] }
                for j in 0..<L { dxr[j] += yr[j] * (dyr[j] - dot) }
            }
        }
    }

    /// Softmax of one row of `L` values (`y` may equal `x`).
    @inline(__always)
    public static func row(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ L: Int) {
        var m = -Float.infinity
        for j in 0..<L { m = Swift.max(m, x[j]) }
        if m == -Float.infinity {  // every entry masked: no mass anywhere
            for j in 0..<L { y[j] = 0 }
            return
        }
        var s: Float = 0
        for j in 0..<L {
            let e = expf(x[j] - m)
            y[j] = e
            s += e
        }
        let inv = 1 / s
        for j in 0..<L { y[j] *= inv }
    }
}
