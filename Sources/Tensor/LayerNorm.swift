/// Layer normalisation (ViT/CLIP).  Legend: N rows, C channels.
///
/// μ = mean(x), rstd = 1/√(var(x) + ε), x̂ = (x − μ)·rstd, y = x̂ ⊙ w + b.
/// x, y: (N, C)   w, b: (C)   mean, rstd: (N), saved for the backward pass.
public enum LayerNorm {
    public static func forward(y: Tensor, mean: Tensor, rstd: Tensor, x: Tensor, w: Tensor, b: Tensor, eps: Float) {
        let C = x.lastDimension, N = x.rowCount
        precondition(w.count == C && b.count == C && mean.count == N && rstd.count == N && y.count == x.count)
        Parallel.forEach(N, costPerItem: C) { range in
            for n in range {
                let xr = x.data + n * C, yr = y.data + n * C
                var s: Float = 0
                for i in 0..<C { s += xr[i] }
                let mu = s / Float(C)
                var v: Float = 0
                for i in 0..<C { let d = xr[i] - mu; v += d * d }
                let r = 1 / (v / Float(C) + eps).squareRoot()
                mean.data[n] = mu
                rstd.data[n] = r
                for i in 0..<C { yr[i] = (xr[i] - mu) * r * w.data[i] + b.data[i] }
            }
        }
    }

    /// Adds into dx, dw, db.   g = dy ⊙ w
    ///   dx += rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))    dw += Σₙ dy ⊙ x̂    db += Σₙ dy
    public static func backward(dx: Tensor, dw: Tensor?, db: Tensor?, dy: Tensor, x: Tensor, w: Tensor, mean: Tensor, rstd: Tensor) {
        let C = x.lastDimension, N = x.rowCount
        Parallel.forEach(N, costPerItem: C) { range in
            for n in range {
                let xr = x.data + n * C, dyr = dy.data + n * C, dxr = dx.data + n * C
                let mu = mean.data[n], r = rstd.data[n]
                var gMean: Float = 0, gxMean: Float = 0
                for i in 0..<C {
                    let g = dyr[i] * w.data[i]
                    gMean += g
                    gxMean += g * (xr[i] - mu) * r
                }
                gMean /= Float(C)
                gxMean /= Float(C)
                for i in 0..<C {
                    let xhat = (xr[i] - mu) * r
                    dxr[i] += r * (dyr[i] * w.data[i] - gMean - xhat * gxMean)
                }
            }
        }
        for n in 0..<N {
            let xr = x.data + n * C, dyr = dy.data + n * C
            let mu = mean.data[n], r = rstd.data[n]
            if let dw { for i in 0..<C { dw.data[i] += dyr[i] * (xr[i] - mu) * r } }
            if let db { for i in 0..<C { db.data[i] += dyr[i] } }
        }
    }
}
