import CKernels
import Foundation

/// The shape of one scaled dot-product attention call.
///
/// Legend: B sequences, T queries per sequence, S keys per sequence, NH query heads,
/// NKV key/value heads (grouped-query attention: query head h reads kv head h / (NH/NKV)),
/// D head size.
public struct AttentionShape: Sendable, Equatable {
    public var batch: Int
    public var queries: Int
    public var keys: Int
    public var heads: Int
    public var kvHeads: Int
    public var headSize: Int
    /// Key j is visible to query i only when j ≤ queryOffset + i.
    public var causal: Bool
    /// Absolute position of query 0 (non-zero when decoding against a KV cache).
    public var queryOffset: Int
    /// Rows between consecutive sequences in k and v (≥ keys; a KV cache holds more rows than are filled).
    public var keyRowsPerSequence: Int
    /// Entries between consecutive sequences in the key mask (≥ keys).
    public var maskStride: Int

    public init(batch: Int, queries: Int, keys: Int, heads: Int, kvHeads: Int, headSize: Int,
                causal: Bool, queryOffset: Int = 0, keyRowsPerSequence: Int? = nil, maskStride: Int? = nil) {
        precondition(heads % kvHeads == 0, "\(heads) heads do not divide into \(kvHeads) kv heads")
        self.batch = batch
        self.queries = queries
        self.keys = keys
        self.heads = heads
        self.kvHeads = kvHeads
        self.headSize = headSize
        self.causal = causal
        self.queryOffset = queryOffset
        self.keyRowsPerSequence = keyRowsPerSequence ?? keys
        self.maskStride = maskStride ?? keys
    }
}

/// Multi-head scaled dot-product attention with grouped KV heads, causal and padding masks.
///
///   P = softmax(Q Kᵀ / √D + M),  Y = P V,  per sequence b and head h.
///   q, y: (B·T, NH·D)   k, v: (B·S', NKV·D), S' = keyRowsPerSequence   att: (B, NH, T, S)
///   keyMask: (B, S) of 0/1 (nil: all keys valid). A query with no visible key gets P = 0.
public enum Attention {
    public static func forward(y: Tensor, att: Tensor, q: Tensor, k: Tensor, v: Tensor,
                               keyMask: UnsafePointer<Int32>?, shape s: AttentionShape) {
        let B = s.batch, T = s.queries, S = s.keys, NH = s.heads, D = s.headSize
        let qC = NH * D, kvC = s.kvHeads * D, group = NH / s.kvHeads
        precondition(att.count >= B * NH * T * S && y.count >= B * T * qC)
        let scale = 1 / Float(D).squareRoot()
        let mask = UncheckedSendable(keyMask)
        if T <= singleQueryRows {
            forwardFewQueries(y: y, att: att, q: q, k: k, v: v, keyMask: keyMask, shape: s)
            return
        }
        GEMM.batched(B * NH) { i in
            let b = i / NH, h = i % NH, g = h / group
            let qM = Matrix(q.data + b * T * qC + h * D, rows: T, columns: D, stride: qC)
            let kM = Matrix(k.data + b * s.keyRowsPerSequence * kvC + g * D, rows: S, columns: D, stride: kvC)
            let vM = Matrix(v.data + b * s.keyRowsPerSequence * kvC + g * D, rows: S, columns: D, stride: kvC)
            let p = att.data + i * T * S
            GEMM.multiply(qM, kM, transposeB: true, into: Matrix(p, rows: T, columns: S), alpha: scale)
            for t in 0..<T {
                let row = p + t * S
                let visible = s.causal ? Swift.min(S, s.queryOffset + t + 1) : S
                if let m = mask.value {
                    for j in 0..<visible where m[b * s.maskStride + j] == 0 { row[j] = -.infinity }
                }
                Softmax.row(row, row, visible)
                for j in visible..<S { row[j] = 0 }
            }
            GEMM.multiply(Matrix(p, rows: T, columns: S), vM,
                          into: Matrix(y.data + b * T * qC + h * D, rows: T, columns: D, stride: qC))
        }
    }

    /// Queries per sequence up to which each query runs through the single-query kernel (decode
    /// steps); more take two sgemm calls per head.
    public static let singleQueryRows = 4

    /// The forward pass one query at a time (`mk_attend_one`, this CPU's variant): a decode step's
    /// query against the cache reads each key and value once, without sgemm's packing. Spread
    /// over the cores by (sequence, head) when the keys are many.
    ///
    /// `keyCounts` (B): sequence b's one query sees its first keyCounts[b] keys (sequences decoded
    /// together from different positions; T = 1), instead of the shape's causal window.
    public static func forwardFewQueries(y: Tensor, att: Tensor, q: Tensor, k: Tensor, v: Tensor, keyMask: UnsafePointer<Int32>?,
                                         shape s: AttentionShape, keyCounts: [Int]? = nil) {
        let B = s.batch, T = s.queries, S = s.keys, NH = s.heads, D = s.headSize
        let qC = NH * D, kvC = s.kvHeads * D, group = NH / s.kvHeads
        let scale = 1 / Float(D).squareRoot()
        precondition(keyCounts == nil || (T == 1 && keyCounts!.count == B && keyCounts!.allSatisfy { $0 <= S }), "key counts for one query per sequence")
        let run = UncheckedSendable((y, att, q, k, v, keyMask))
        Parallel.forEach(B * NH, costPerItem: T * S * D / 8) { range in
            let (y, att, q, k, v, keyMask) = run.value
            for i in range {
                let b = i / NH, h = i % NH, g = h / group
                let keys = k.data + b * s.keyRowsPerSequence * kvC + g * D, values = v.data + b * s.keyRowsPerSequence * kvC + g * D
                for t in 0..<T {
                    let visible = keyCounts?[b] ?? (s.causal ? Swift.min(S, s.queryOffset + t + 1) : S)
                    let p = att.data + (i * T + t) * S
                    mk_attend_one(Int32(visible), Int32(D), q.data + (b * T + t) * qC + h * D, keys, values, kvC,
                                  keyMask.map { $0 + b * s.maskStride }, scale, p, y.data + (b * T + t) * qC + h * D)
                    for j in visible..<S { p[j] = 0 }
                }
            }
        }
    }

    /// Adds into dq, dk, dv. `datt` (B, NH, T, S) is scratch.
    ///   dP = dY Vᵀ (+ G),  dS = P ⊙ (dP − rowsum(dP ⊙ P)) / √D,
    ///   dQ += dS K,  dK += dSᵀ Q,  dV += Pᵀ dY   (dK, dV summed over the heads of a group)
    ///
    /// `probabilitySumGradient` G: (B·T, L), the gradient of a loss term that reads Σ_h P (the
    /// probabilities summed over heads) over the first L keys of each query; it is added to every
    /// head's dP (columns past S are ignored, keys past L get none).
    public static func backward(dq: Tensor, dk: Tensor, dv: Tensor, datt: Tensor, dy: Tensor,
                                att: Tensor, q: Tensor, k: Tensor, v: Tensor, shape s: AttentionShape,
                                probabilitySumGradient: Tensor? = nil) {
        let B = s.batch, T = s.queries, S = s.keys, NH = s.heads, NKV = s.kvHeads, D = s.headSize
        let qC = NH * D, kvC = NKV * D, group = NH / NKV
        let scale = 1 / Float(D).squareRoot()
        // One task per (sequence, kv head): the heads of a group share dK and dV, so no two tasks write the same rows.
        GEMM.batched(B * NKV) { task in
            let b = task / NKV, g = task % NKV
            let kvOffset = b * s.keyRowsPerSequence * kvC + g * D
            let kM = Matrix(k.data + kvOffset, rows: S, columns: D, stride: kvC)
            let vM = Matrix(v.data + kvOffset, rows: S, columns: D, stride: kvC)
            let dkM = Matrix(dk.data + kvOffset, rows: S, columns: D, stride: kvC)
            let dvM = Matrix(dv.data + kvOffset, rows: S, columns: D, stride: kvC)
            for h in (g * group)..<((g + 1) * group) {
                let i = b * NH + h
                let pM = Matrix(att.data + i * T * S, rows: T, columns: S)
                let dpM = Matrix(datt.data + i * T * S, rows: T, columns: S)
                let qM = Matrix(q.data + b * T * qC + h * D, rows: T, columns: D, stride: qC)
                let dqM = Matrix(dq.data + b * T * qC + h * D, rows: T, columns: D, stride: qC)
                let dyM = Matrix(dy.data + b * T * qC + h * D, rows: T, columns: D, stride: qC)
                GEMM.multiply(dyM, vM, transposeB: true, into: dpM)
                if let g = probabilitySumGradient {
                    let L = g.lastDimension, width = Swift.min(L, S)
                    for t in 0..<T {
                        let src = g.data + (b * T + t) * L, dst = dpM.data + t * S
                        for j in 0..<width { dst[j] += src[j] }
                    }
                }
                GEMM.multiply(pM, transposeA: true, dyM, into: dvM, beta: 1)
                for t in 0..<T {
                    let p = pM.data + t * S, dp = dpM.data + t * S
                    var dot: Float = 0
                    for j in 0..<S { dot += p[j] * dp[j] }
                    for j in 0..<S { dp[j] = p[j] * (dp[j] - dot) }
                }
                GEMM.multiply(dpM, kM, into: dqM, alpha: scale, beta: 1)
                GEMM.multiply(dpM, transposeA: true, qM, into: dkM, alpha: scale, beta: 1)
            }
        }
    }
}
