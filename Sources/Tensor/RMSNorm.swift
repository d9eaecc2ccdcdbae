import Foundation

/// Root-mean-square normalisation (LLaMA).  Legend: N rows, C channels.
///
/// rstd = 1 / √(mean(x²) + ε),  y = x · rstd ⊙ w.
/// x, y: (N, C)   w: (C)   rstd: (N), saved for the backward pass.
public enum RMSNorm {
    public static func forward(y: Tensor, rstd: Tensor, x: Tensor, w: Tensor, eps: Float) {
        let C = x.lastDimension, N = x.rowCount
        precondition(w.count == C && rstd.count == N && y.count == x.count)
        Parallel.forEach(N, costPerItem: C) { range in
            for n in range {
                let xr = x.data + n * C, yr = y.data + n * C
                var ss: Float = 0
                for i in 0..<C { ss += xr[i] * xr[i] }
                let r = 1 / (ss / Float(C) + eps).squareRoot()
                rstd.data[n] = r
                for i in 0..<C { yr[i] = xr[i] * r * w.data[i] }
            }
        }
    }

    /// Adds into dx and dw.   x̂ = x · rstd
    ///   dx += rstd · (w⊙dy − x̂ · mean(w⊙dy⊙x̂))     dw += Σₙ dy ⊙ x̂
    public static func backward(dx: Tensor, dw: Tensor?, dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor) {
        let C = x.lastDimension, N = x.rowCount
        Parallel.forEach(N, costPerItem: C) { range in
            for n in range {
                let xr = x.data + n * C, dyr = dy.data + n * C, dxr = dx.data + n * C
                let r = rstd.data[n]
                var dot: Float = 0
                for i in 0..<C { dot += w.data[i] * dyr[i] * xr[i] }
                let m = dot * r * r / Float(C)
                for i in 0..<C { dxr[i] += r * (w.data[i] * dyr[i] - xr[i] * m) }
            }
        }
        if let dw {
            for n in 0..<N {
                let xr = x.data + n * C, dyr = dy.data + n * C
                let r = rstd.data[n]
                for i in 0..<C { dw.data[i] += dyr[i] * xr[i] * r }
            }
        }
    }
}
