import Tensor

/// Wings' router: per query row, the main attention's weights summed over heads decide how
/// much of the visual and of the textual learner to add.
///
///     a = Σ_h P_h[t, o .. o+L)   (zero-padded when fewer than L keys; o = the sequence's left padding)
///     w = softmax(a Wᵀ + b)      over (visual, textual)
///
/// A row that sees no image token (text-only samples, and text before the image) is not
/// routed: w = (0, 1), the textual learner alone, as the paper prescribes.
///
/// Legend: N = B·T rows, NH heads, S keys per sequence, L = `router_max_keys`.
///   P: (B, NH, T, S)   a: (N, L)   W: (2, L)   b: (2)   z, w: (N, 2)   routed: (N) 0/1
public enum WingsRouter {
    /// Fills `input` (a) from the probabilities `att` of `shape` and `weights` (w).
    /// `keyOffset[b]`: key positions of sequence b before its first real token (left padding).
    public static func forward(weights: Tensor, logits: Tensor, input: Tensor, att: Tensor, shape s: AttentionShape,
                               keyOffset: [Int]? = nil, routed: UnsafePointer<UInt8>, w: Tensor, b: Tensor) {
        let B = s.batch, T = s.queries, S = s.keys, NH = s.heads, L = input.lastDimension
        precondition(input.rowCount == B * T && w.shape == [2, L])
        input.zero()
        Parallel.forEach(B * T, costPerItem: NH * Swift.min(S, L)) { range in
            for n in range {
                let bi = n / T, t = n % T, offset = keyOffset?[bi] ?? 0
                let width = Swift.max(0, Swift.min(S - offset, L))
                let dst = input.data + n * L
                for h in 0..<NH {
                    let src = att.data + ((bi * NH + h) * T + t) * S + offset
                    for j in 0..<width { dst[j] += src[j] }
                }
            }
        }
        Linear.forward(y: logits, x: input, w: w, b: b)
        for n in 0..<(B * T) {
            let z = logits.data + n * 2, p = weights.data + n * 2
            if routed[n] != 0 {
                Softmax.row(p, z, 2)
            } else {
                p[0] = 0; p[1] = 1  // (w_v, w_t): the textual learner alone
            }
        }
    }

    /// From dw (N, 2): adds into dW, db (nil when frozen) and writes da (N, L), which the main
    /// attention's backward adds to every head's dP. Overwrites `dweights` with dz.
    public static func backward(dinput: Tensor, dW: Tensor?, db: Tensor?, dweights: Tensor, weights: Tensor, input: Tensor,
                                routed: UnsafePointer<UInt8>, w: Tensor) {
        let N = input.rowCount
        // w = softmax(z): dz = w ⊙ (dw − ⟨dw, w⟩); an unrouted row's w is constant: dz = 0
        for n in 0..<N {
            let dp = dweights.data + n * 2, p = weights.data + n * 2
            if routed[n] != 0 {
                let dot = dp[0] * p[0] + dp[1] * p[1]
                dp[0] = p[0] * (dp[0] - dot); dp[1] = p[1] * (dp[1] - dot)
            } else {
                dp[0] = 0; dp[1] = 0
            }
        }
        // z = a Wᵀ + b
        dinput.zero()
        Linear.backward(dx: dinput, dw: dW, db: db, dy: dweights, x: input, w: w)
    }
}
