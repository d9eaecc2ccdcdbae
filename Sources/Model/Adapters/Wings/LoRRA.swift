import Tensor

/// Low-rank residual attention (LoRRA): Wings' modality learner. Queries come from the
/// residual stream, keys and values from another sequence of vectors (the image tokens for
/// the visual learner, the layer-0 text embeddings for the textual one); every projection is
/// the identity plus a rank-r residual, and the output projection is low-rank alone:
///
///     Q = X_q + (X_q A_qᵀ) B_qᵀ
///     K = G(X_kv) + (X_kv A_kᵀ) B_kᵀ,   V = G(X_kv) + (X_kv A_vᵀ) B_vᵀ
///     O = ((softmax(Q Kᵀ/√D + M) V) A_oᵀ) B_oᵀ
///
/// With B = 0 (the initialisation) a learner outputs exactly 0. Heads follow the decoder:
/// NH query heads and NKV key/value heads of size D = C/NH. G is the identity when NKV = NH;
/// with grouped KV heads it is the mean over each group's NH/NKV head slices, the fixed
/// C → KC map that keeps "identity plus residual" meaningful (the reference code assumes
/// NKV = NH). No RoPE: M holds the causal and key masks only.
///
/// Legend: N = B·T query rows, S key positions per sequence, C hidden, KC = NKV·D, r rank.
///   X_q, X_kv: (N, C)   A_*: (r, C)   B_q, B_o: (C, r)   B_k, B_v: (KC, r)   O: (N, C)
public enum LoRRA {
    /// Slots of one learner's eight matrices, in `names` order.
    public struct Slots: Sendable {
        public let qA, qB, kA, kB, vA, vB, oA, oB: ParameterSlot

        /// Declares the eight tensors `prefix` + `names[i]` in `table`.
        public init(prefix: String, hidden C: Int, kvSize KC: Int, rank r: Int, table: inout ParameterTableBuilder) {
            let shapes = LoRRA.shapes(hidden: C, kvSize: KC, rank: r)
            let s = zip(LoRRA.names, shapes).map { table.add(prefix + $0, $1) }
            (qA, qB, kA, kB, vA, vB, oA, oB) = (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
        }

        /// All eight, in `names` order.
        public var all: [ParameterSlot] { [qA, qB, kA, kB, vA, vB, oA, oB] }
    }

    /// Suffixes of the eight tensors' names, in `Slots` order.
    public static let names = ["q_proj.lora_A.weight", "q_proj.lora_B.weight", "k_proj.lora_A.weight", "k_proj.lora_B.weight",
                               "v_proj.lora_A.weight", "v_proj.lora_B.weight", "o_proj.lora_A.weight", "o_proj.lora_B.weight"]

    /// Shapes of the eight tensors, in `names` order.
    public static func shapes(hidden C: Int, kvSize KC: Int, rank r: Int) -> [[Int]] {
        [[r, C], [C, r], [r, C], [KC, r], [r, C], [KC, r], [r, C], [C, r]]
    }

    /// What one learner keeps for its backward pass.
    public struct Buffers {
        public let aq: Tensor   // (N, r)  X_q A_qᵀ
        public let q: Tensor    // (N, C)
        public let ak: Tensor   // (N, r)  X_kv A_kᵀ
        public let k: Tensor    // (N, KC)
        public let av: Tensor   // (N, r)  X_kv A_vᵀ
        public let v: Tensor    // (N, KC)
        public let att: Tensor  // (B, NH, T, S) probabilities
        public let y: Tensor    // (N, C)  attention output
        public let ao: Tensor   // (N, r)  y A_oᵀ
        public let out: Tensor  // (N, C)  O

        public init(rows N: Int, batch B: Int, queries T: Int, keys S: Int, heads NH: Int, hidden C: Int, kvSize KC: Int,
                    rank r: Int, _ allocate: ([Int]) -> Tensor) {
            aq = allocate([N, r]); q = allocate([N, C]); ak = allocate([N, r]); k = allocate([N, KC])
            av = allocate([N, r]); v = allocate([N, KC]); att = allocate([B, NH, T, S]); y = allocate([N, C])
            ao = allocate([N, r]); out = allocate([N, C])
        }

        private init(aq: Tensor, q: Tensor, ak: Tensor, k: Tensor, av: Tensor, v: Tensor, att: Tensor, y: Tensor, ao: Tensor, out: Tensor) {
            self.aq = aq; self.q = q; self.ak = ak; self.k = k; self.av = av; self.v = v; self.att = att; self.y = y; self.ao = ao; self.out = out
        }

        /// The same buffers seen with their first `N` rows (a cached forward of fewer rows than its
        /// chunk); the probabilities are kept whole.
        public func rows(_ N: Int) -> Buffers {
            func r(_ t: Tensor) -> Tensor { t.rows(0..<N) }
            return Buffers(aq: r(aq), q: r(q), ak: r(ak), k: r(k), av: r(av), v: r(v), att: att, y: r(y), ao: r(ao), out: r(out))
        }
    }

    /// Backward scratch (may be shared with other layers' scratch of the same sizes).
    public struct Scratch {
        public let dq: Tensor    // (N, C)
        public let dk: Tensor    // (N, KC)
        public let dv: Tensor    // (N, KC)
        public let datt: Tensor  // (B, NH, T, S)
        public let dy: Tensor    // (N, C)
        public let dr: Tensor    // (N, r)

        public init(dq: Tensor, dk: Tensor, dv: Tensor, datt: Tensor, dy: Tensor, dr: Tensor) {
            self.dq = dq; self.dk = dk; self.dv = dv; self.datt = datt; self.dy = dy; self.dr = dr
        }
    }

    // MARK: Forward

    /// aq = X_q A_qᵀ;  q = X_q + aq B_qᵀ.
    public static func queries(_ p: Parameters, _ s: Slots, xq: Tensor, aq: Tensor, q: Tensor) {
        Linear.forward(y: aq, x: xq, w: p.value(s.qA))
        Linear.forward(y: q, x: aq, w: p.value(s.qB))
        Elementwise.add(q, q, xq)
    }

    /// ak = X_kv A_kᵀ;  k = G(X_kv) + ak B_kᵀ  (and the same for v).
    public static func keysValues(_ p: Parameters, _ s: Slots, xkv: Tensor, ak: Tensor, k: Tensor, av: Tensor, v: Tensor, heads NH: Int) {
        Linear.forward(y: ak, x: xkv, w: p.value(s.kA))
        Linear.forward(y: k, x: ak, w: p.value(s.kB))
        groupMean(add: k, x: xkv, heads: NH)
        Linear.forward(y: av, x: xkv, w: p.value(s.vA))
        Linear.forward(y: v, x: av, w: p.value(s.vB))
        groupMean(add: v, x: xkv, heads: NH)
    }

    /// ao = y A_oᵀ;  out = ao B_oᵀ.
    public static func output(_ p: Parameters, _ s: Slots, y: Tensor, ao: Tensor, out: Tensor) {
        Linear.forward(y: ao, x: y, w: p.value(s.oA))
        Linear.forward(y: out, x: ao, w: p.value(s.oB))
    }

    /// The whole learner over one batch: `keyMask` (B·S, 1 = visible) selects the keys each
    /// sequence may attend to; `shape` carries the causal mask. Queries with no visible key output 0.
    public static func forward(_ p: Parameters, _ s: Slots, xq: Tensor, xkv: Tensor, keyMask: UnsafePointer<Int32>?,
                               shape: AttentionShape, _ a: Buffers) {
        keysValues(p, s, xkv: xkv, ak: a.ak, k: a.k, av: a.av, v: a.v, heads: shape.heads)
        attend(p, s, xq: xq, keys: a.k, values: a.v, keyMask: keyMask, shape: shape, a)
    }

    /// The query side over keys and values already computed (`keysValues`): queries from
    /// `xq`, attention over `keys`/`values` (laid out as `shape` says: a batch's own rows, or a
    /// KV cache), the output projection into `a.out`.
    public static func attend(_ p: Parameters, _ s: Slots, xq: Tensor, keys: Tensor, values: Tensor, keyMask: UnsafePointer<Int32>?,
                              shape: AttentionShape, _ a: Buffers) {
        queries(p, s, xq: xq, aq: a.aq, q: a.q)
        Attention.forward(y: a.y, att: a.att, q: a.q, k: keys, v: values, keyMask: keyMask, shape: shape)
        output(p, s, y: a.y, ao: a.ao, out: a.out)
    }

    // MARK: Backward

    /// From dO, adds into dX_q, dX_kv and, with `parameterGradients`, the gradient of every
    /// matrix that trains. Overwrites the scratch.
    public static func backward(_ p: Parameters, _ slots: Slots, parameterGradients: Bool = true, dout: Tensor, xq: Tensor, xkv: Tensor,
                                shape: AttentionShape, _ a: Buffers, _ s: Scratch, dxq: Tensor, dxkv: Tensor) {
        let w = { (slot: ParameterSlot) in p.value(slot) }
        let g = { (slot: ParameterSlot) in parameterGradients ? p.gradient(slot) : nil }
        // out = ao B_oᵀ;  ao = y A_oᵀ
        s.dr.zero()
        Linear.backward(dx: s.dr, dw: g(slots.oB), db: nil, dy: dout, x: a.ao, w: w(slots.oB))
        s.dy.zero()
        Linear.backward(dx: s.dy, dw: g(slots.oA), db: nil, dy: s.dr, x: a.y, w: w(slots.oA))
        // y = Attn(q, k, v)
        s.dq.zero(); s.dk.zero(); s.dv.zero()
        Attention.backward(dq: s.dq, dk: s.dk, dv: s.dv, datt: s.datt, dy: s.dy, att: a.att, q: a.q, k: a.k, v: a.v, shape: shape)
        // q = X_q + aq B_qᵀ;  aq = X_q A_qᵀ
        Elementwise.addScaled(dxq, s.dq)
        s.dr.zero()
        Linear.backward(dx: s.dr, dw: g(slots.qB), db: nil, dy: s.dq, x: a.aq, w: w(slots.qB))
        Linear.backward(dx: dxq, dw: g(slots.qA), db: nil, dy: s.dr, x: xq, w: w(slots.qA))
        // k = G(X_kv) + ak B_kᵀ;  ak = X_kv A_kᵀ  (and v)
        groupMeanBackward(addInto: dxkv, dy: s.dk, heads: shape.heads)
        s.dr.zero()
        Linear.backward(dx: s.dr, dw: g(slots.kB), db: nil, dy: s.dk, x: a.ak, w: w(slots.kB))
        Linear.backward(dx: dxkv, dw: g(slots.kA), db: nil, dy: s.dr, x: xkv, w: w(slots.kA))
        groupMeanBackward(addInto: dxkv, dy: s.dv, heads: shape.heads)
        s.dr.zero()
        Linear.backward(dx: s.dr, dw: g(slots.vB), db: nil, dy: s.dv, x: a.av, w: w(slots.vB))
        Linear.backward(dx: dxkv, dw: g(slots.vA), db: nil, dy: s.dr, x: xkv, w: w(slots.vA))
    }

    // MARK: G, the identity for KV heads

    /// y += G(x): y[n, g·D + d] += mean over the heads h of group g of x[n, h·D + d].
    ///   x: (N, NH·D)   y: (N, NKV·D)
    static func groupMean(add y: Tensor, x: Tensor, heads NH: Int) {
        let N = x.rowCount, C = x.lastDimension, KC = y.lastDimension
        let D = C / NH, NKV = KC / D, group = NH / NKV, scale = 1 / Float(group)
        precondition(NH * D == C && NKV * group == NH && y.rowCount == N)
        Parallel.forEach(N, costPerItem: C) { range in
            for n in range {
                let src = x.data + n * C, dst = y.data + n * KC
                for h in 0..<NH {
                    let o = (h / group) * D
                    for d in 0..<D { dst[o + d] += scale * src[h * D + d] }
                }
            }
        }
    }

    /// dx += Gᵀ(dy): each head slice of x receives its group's gradient / group size.
    static func groupMeanBackward(addInto dx: Tensor, dy: Tensor, heads NH: Int) {
        let N = dx.rowCount, C = dx.lastDimension, KC = dy.lastDimension
        let D = C / NH, group = NH / (KC / D), scale = 1 / Float(group)
        Parallel.forEach(N, costPerItem: C) { range in
            for n in range {
                let src = dy.data + n * KC, dst = dx.data + n * C
                for h in 0..<NH {
                    let o = (h / group) * D
                    for d in 0..<D { dst[h * D + d] += scale * src[o + d] }
                }
            }
        }
    }
}
