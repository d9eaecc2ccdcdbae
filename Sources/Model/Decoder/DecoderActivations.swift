import Tensor

/// Buffers of one decoder layer for N = B·T rows.  Shapes with C hidden, QC = NH·D,
/// KC = NKV·D, I intermediate, S keys per sequence (T in training, the cache length in inference).
struct LayerBuffers {
    let ln1: Tensor     // (N, C)  input_layernorm output
    let rstd1: Tensor   // (N)
    let q: Tensor       // (N, QC) after RoPE
    let k: Tensor       // (N, KC) after RoPE
    let v: Tensor       // (N, KC)
    let att: Tensor     // (B, NH, T, S) attention probabilities
    let attY: Tensor    // (N, QC) attention output before o_proj
    let h: Tensor       // (N, C)  residual stream after attention
    let ln2: Tensor     // (N, C)  post_attention_layernorm output
    let rstd2: Tensor   // (N)
    let gate: Tensor    // (N, I)  gate_proj output
    let up: Tensor      // (N, I)  up_proj output
    let act: Tensor     // (N, I)  silu(gate) ⊙ up
    let out: Tensor     // (N, C)  residual stream after the MLP (next layer's input)

    init(rows N: Int, batch B: Int, queries T: Int, keys S: Int, config c: DecoderConfig, _ allocate: ([Int]) -> Tensor) {
        let C = c.hiddenSize, QC = c.numAttentionHeads * c.headSize, KC = c.kvSize, I = c.intermediateSize
        ln1 = allocate([N, C]); rstd1 = allocate([N])
        q = allocate([N, QC]); k = allocate([N, KC]); v = allocate([N, KC])
        att = allocate([B, c.numAttentionHeads, T, S]); attY = allocate([N, QC])
        h = allocate([N, C]); ln2 = allocate([N, C]); rstd2 = allocate([N])
        gate = allocate([N, I]); up = allocate([N, I]); act = allocate([N, I])
        out = allocate([N, C])
    }

    private init(ln1: Tensor, rstd1: Tensor, q: Tensor, k: Tensor, v: Tensor, att: Tensor, attY: Tensor, h: Tensor,
                 ln2: Tensor, rstd2: Tensor, gate: Tensor, up: Tensor, act: Tensor, out: Tensor) {
        self.ln1 = ln1; self.rstd1 = rstd1; self.q = q; self.k = k; self.v = v; self.att = att; self.attY = attY
        self.h = h; self.ln2 = ln2; self.rstd2 = rstd2; self.gate = gate; self.up = up; self.act = act; self.out = out
    }

    /// The same buffers seen with their first `N` rows (a cached forward of fewer rows than its
    /// chunk); the attention buffer is kept whole.
    func rows(_ N: Int) -> LayerBuffers {
        func r(_ t: Tensor) -> Tensor { t.rows(0..<N) }
        return LayerBuffers(ln1: r(ln1), rstd1: r(rstd1), q: r(q), k: r(k), v: r(v), att: att, attY: r(attY), h: r(h),
                            ln2: r(ln2), rstd2: r(rstd2), gate: r(gate), up: r(up), act: r(act), out: r(out))
    }
}

/// Gradient scratch shared by all layers during the backward pass.
struct BackwardScratch {
    let dres: Tensor    // (N, C)  gradient of the residual stream; ends as d(input embeddings)
    let dln: Tensor     // (N, C)  gradient of a norm's output
    let dq: Tensor      // (N, QC)
    let dk: Tensor      // (N, KC)
    let dv: Tensor      // (N, KC)
    let datt: Tensor    // (B, NH, T, T)
    let dattY: Tensor   // (N, QC)
    let dgate: Tensor   // (N, I)
    let dup: Tensor     // (N, I)
    let dact: Tensor    // (N, I)

    init(rows N: Int, batch B: Int, sequence T: Int, config c: DecoderConfig, _ allocate: ([Int]) -> Tensor) {
        let C = c.hiddenSize, QC = c.numAttentionHeads * c.headSize, KC = c.kvSize, I = c.intermediateSize
        dres = allocate([N, C]); dln = allocate([N, C])
        dq = allocate([N, QC]); dk = allocate([N, KC]); dv = allocate([N, KC])
        datt = allocate([B, c.numAttentionHeads, T, T]); dattY = allocate([N, QC])
        dgate = allocate([N, I]); dup = allocate([N, I]); dact = allocate([N, I])
    }
}

/// Everything a training step of the decoder keeps for a batch of B sequences of T tokens:
/// the batch itself, every saved activation, and the backward scratch, in one arena
/// allocated once. A step allocates nothing.
public final class DecoderActivations: @unchecked Sendable {
    public let batch: Int
    public let sequence: Int
    public let arena: Arena
    /// Token ids (B·T); `embed` reads them, the embedding backward scatters to them.
    public let tokens: UnsafeMutablePointer<Int32>
    /// Next-token targets (B·T), negative = no loss.
    public let targets: UnsafeMutablePointer<Int32>
    /// Key padding mask (B·T), 1 = a real token.
    public let attentionMask: UnsafeMutablePointer<Int32>
    /// Rows (B·T) whose embedding was replaced after the lookup (image tokens): 1 = replaced, so the
    /// embedding table gets no gradient from them.
    public let replacedRows: UnsafeMutablePointer<UInt8>

    /// (B, T, C) input embeddings: written by `embed`; a caller may overwrite rows (image slots) before `forwardLayers`.
    public let embeddings: Tensor
    let layers: [LayerBuffers]
    let lnf: Tensor     // (N, C) final norm output
    let rstdf: Tensor   // (N)
    /// (B, T, V) logits after the forward pass; the backward pass overwrites them with their gradient.
    public let logits: Tensor
    let losses: Tensor  // (N) per-token loss
    let scratch: BackwardScratch
    /// Each attached adapter's state for this batch (`DecoderModel.adapters` order).
    let adapterStates: [any AdapterState]

    /// `adapters`: those of the decoder that will run on it (default: those `c` records).
    public init(config c: DecoderConfig, batch B: Int, sequence T: Int, adapters: [any DecoderAdapter]? = nil) {
        precondition(T <= c.maxPositionEmbeddings, "sequence \(T) beyond max_position_embeddings \(c.maxPositionEmbeddings)")
        batch = B
        sequence = T
        let N = B * T
        let (arena, l) = Arena.build { Self.layout(c, batch: B, sequence: T, $0) }
        self.arena = arena
        (embeddings, layers, lnf, rstdf, logits, losses, scratch) = l
        adapterStates = (adapters ?? DecoderLayout(c).adapters).map { $0.makeState(.training(batch: B, sequence: T)) }
        tokens = .allocate(capacity: N); tokens.initialize(repeating: 0, count: N)
        targets = .allocate(capacity: N); targets.initialize(repeating: -100, count: N)
        attentionMask = .allocate(capacity: N); attentionMask.initialize(repeating: 1, count: N)
        replacedRows = .allocate(capacity: N); replacedRows.initialize(repeating: 0, count: N)
    }

    private typealias Layout = (Tensor, [LayerBuffers], Tensor, Tensor, Tensor, Tensor, BackwardScratch)

    /// The arena's tensors: embeddings, each layer's buffers, lnf, rstdf, logits, losses, scratch.
    private static func layout(_ c: DecoderConfig, batch B: Int, sequence T: Int, _ allocate: ([Int]) -> Tensor) -> Layout {
        let N = B * T
        return (allocate([B, T, c.hiddenSize]),
                (0..<c.numHiddenLayers).map { _ in LayerBuffers(rows: N, batch: B, queries: T, keys: T, config: c, allocate) },
                allocate([N, c.hiddenSize]), allocate([N]), allocate([B, T, c.vocabSize]), allocate([N]),
                BackwardScratch(rows: N, batch: B, sequence: T, config: c, allocate))
    }

    /// The bytes of the arena for B sequences of T tokens (the adapters' state not included), or
    /// nil when they exceed `Int.max`: checked before a stage allocates (``SizeLimits``).
    public static func bytes(config c: DecoderConfig, batch B: Int, sequence T: Int) -> Int? {
        guard B.multipliedReportingOverflow(by: T).overflow == false else { return nil }
        return Arena.measure { layout(c, batch: B, sequence: T, $0) }
    }

    deinit {
        replacedRows.deallocate()
        tokens.deallocate()
        targets.deallocate()
        attentionMask.deallocate()
    }

    /// Bytes of the activations, the adapters' state included.
    public var bytes: Int { arena.bytes + adapterStates.reduce(0) { $0 + $1.bytes } }

    /// d(loss)/d(input embeddings), (B, T, C), valid after `backward`.
    public var inputGradient: Tensor { scratch.dres.reshaped([batch, sequence, embeddings.lastDimension]) }
    /// (N, C): d(loss)/d(the residual stream entering the layer a `backward(logitGradient:downTo:)` stopped at).
    public var residualGradient: Tensor { scratch.dres }

    /// Copies a batch in. `targets` negative = no loss; `attentionMask` nil = all tokens real.
    public func setBatch(tokens t: [Int32], targets y: [Int32], attentionMask m: [Int32]? = nil) {
        let N = batch * sequence
        precondition(t.count == N && y.count == N && (m?.count ?? N) == N, "batch of \(t.count) tokens for \(batch)x\(sequence)")
        t.withUnsafeBufferPointer { tokens.update(from: $0.baseAddress!, count: N) }
        y.withUnsafeBufferPointer { targets.update(from: $0.baseAddress!, count: N) }
        if let m { m.withUnsafeBufferPointer { attentionMask.update(from: $0.baseAddress!, count: N) } }
        else { attentionMask.update(repeating: 1, count: N) }
    }
}
