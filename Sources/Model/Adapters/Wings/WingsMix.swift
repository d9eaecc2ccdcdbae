import Tensor

/// How Wings adds its learners to the residual stream, row by row:
///
///     h'' = h' + w_t ⊙ O_t + w_v ⊙ O_v
///
/// w = (w_v, w_t) from the router (N, 2), O_t and O_v the learners' outputs (N, C). O_v is nil
/// when no row of the pass is routed (the visual learner did not run: its weight is 0 everywhere).
/// Training and cached decoding both mix here, in this order.
enum WingsMix {
    static func forward(into h: Tensor, weights: Tensor, visual: Tensor?, textual: Tensor) {
        let C = h.lastDimension
        Parallel.forEach(h.rowCount, costPerItem: 2 * C) { range in
            for n in range {
                let row = h.data + n * C, wv = weights.data[2 * n], wt = weights.data[2 * n + 1]
                let ot = textual.data + n * C
                for c in 0..<C { row[c] += wt * ot[c] }
                if let visual {
                    let ov = visual.data + n * C
                    for c in 0..<C { row[c] += wv * ov[c] }
                }
            }
        }
    }

    /// From dh'' (N, C): dO_t = w_t ⊙ dh'', dO_v = w_v ⊙ dh'' (when `visual` ran) and
    /// dw = (⟨O_v, dh''⟩, ⟨O_t, dh''⟩) per row into `dweights` (N, 2).
    static func backward(dh: Tensor, weights: Tensor, visual: Tensor?, textual: Tensor,
                         dvisual: Tensor, dtextual: Tensor, dweights: Tensor) {
        let N = dh.rowCount, C = dh.lastDimension
        Parallel.forEach(N, costPerItem: 4 * C) { range in
            for n in range {
                let g = dh.data + n * C, wv = weights.data[2 * n], wt = weights.data[2 * n + 1]
                let ot = textual.data + n * C, dt = dtextual.data + n * C
                var dotT: Float = 0, dotV: Float = 0
                for c in 0..<C { dt[c] = wt * g[c]; dotT += ot[c] * g[c] }
                if let visual {
                    let ov = visual.data + n * C, dv = dvisual.data + n * C
                    for c in 0..<C { dv[c] = wv * g[c]; dotV += ov[c] * g[c] }
                }
                dweights.data[2 * n] = dotV
                dweights.data[2 * n + 1] = dotT
            }
        }
    }
}
