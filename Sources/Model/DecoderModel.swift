import Foundation
import Tensor

/// Indices into the parameter table of one layer's tensors.
struct LayerSlots {
    let inputNorm, q, k, v, o, postNorm, gate, up, down: Int
    let qBias, kBias, vBias, oBias: Int?
}

/// A LLaMA/Qwen2-family decoder: forward and backward over a batch, in llm.c style.
///
/// Per layer:  h = x + o_proj(Attn(RMSNorm(x)));  out = h + down(silu(gate(n)) ⊙ up(n)),  n = RMSNorm(h).
/// Final:      logits = lm_head(RMSNorm(x_L))   (lm_head = embed_tokens when tied).
///
/// Legend in kernels: B batch, T sequence, N = B·T rows, C hidden, NH/NKV heads, D head size.
public final class DecoderModel: @unchecked Sendable {
    public let config: DecoderConfig
    public let parameters: Parameters
    let rope: RoPE
    let layerSlots: [LayerSlots]
    let embedSlot: Int
    let finalNormSlot: Int
    let lmHeadSlot: Int
    /// Wings' learners and router of each layer that has them.
    let wingsSlots: [Int: WingsSlots]

    /// The parameter table with Hugging Face names.
    public static func parameterTable(_ c: DecoderConfig) -> [ParameterInfo] {
        let C = c.hiddenSize, QC = c.numAttentionHeads * c.headSize, KC = c.kvSize, I = c.intermediateSize
        var t = [ParameterInfo(name: "model.embed_tokens.weight", shape: [c.vocabSize, C])]
        for l in 0..<c.numHiddenLayers {
            let p = "model.layers.\(l)."
            t.append(ParameterInfo(name: p + "input_layernorm.weight", shape: [C]))
            t.append(ParameterInfo(name: p + "self_attn.q_proj.weight", shape: [QC, C]))
            if c.qkvBias { t.append(ParameterInfo(name: p + "self_attn.q_proj.bias", shape: [QC])) }
            t.append(ParameterInfo(name: p + "self_attn.k_proj.weight", shape: [KC, C]))
            if c.qkvBias { t.append(ParameterInfo(name: p + "self_attn.k_proj.bias", shape: [KC])) }
            t.append(ParameterInfo(name: p + "self_attn.v_proj.weight", shape: [KC, C]))
            if c.qkvBias { t.append(ParameterInfo(name: p + "self_attn.v_proj.bias", shape: [KC])) }
            t.append(ParameterInfo(name: p + "self_attn.o_proj.weight", shape: [C, QC]))
            if c.outputBias { t.append(ParameterInfo(name: p + "self_attn.o_proj.bias", shape: [C])) }
            t.append(ParameterInfo(name: p + "post_attention_layernorm.weight", shape: [C]))
            t.append(ParameterInfo(name: p + "mlp.gate_proj.weight", shape: [I, C]))
            t.append(ParameterInfo(name: p + "mlp.up_proj.weight", shape: [I, C]))
            t.append(ParameterInfo(name: p + "mlp.down_proj.weight", shape: [C, I]))
        }
        t.append(ParameterInfo(name: "model.norm.weight", shape: [C]))
        if !c.tieWordEmbeddings { t.append(ParameterInfo(name: "lm_head.weight", shape: [c.vocabSize, C])) }
        return t + wingsTable(c)
    }

    /// A decoder with zero weights (load or `initialize` them next); nothing trains until `setTrainable`.
    public convenience init(config: DecoderConfig) {
        self.init(config: config, parameters: Parameters(Self.parameterTable(config)))
    }

    /// A decoder over existing parameters laid out by `parameterTable(config)`.
    init(config: DecoderConfig, parameters: Parameters) {
        precondition(parameters.table == Self.parameterTable(config), "parameters laid out for another config")
        self.config = config
        self.parameters = parameters
        rope = RoPE(headSize: config.headSize, maxPositions: config.maxPositionEmbeddings, theta: config.ropeTheta)
        let slot = Dictionary(uniqueKeysWithValues: parameters.table.enumerated().map { ($1.name, $0) })
        layerSlots = (0..<config.numHiddenLayers).map { l in
            let p = "model.layers.\(l)."
            return LayerSlots(
                inputNorm: slot[p + "input_layernorm.weight"]!, q: slot[p + "self_attn.q_proj.weight"]!,
                k: slot[p + "self_attn.k_proj.weight"]!, v: slot[p + "self_attn.v_proj.weight"]!,
                o: slot[p + "self_attn.o_proj.weight"]!, postNorm: slot[p + "post_attention_layernorm.weight"]!,
                gate: slot[p + "mlp.gate_proj.weight"]!, up: slot[p + "mlp.up_proj.weight"]!, down: slot[p + "mlp.down_proj.weight"]!,
                qBias: slot[p + "self_attn.q_proj.bias"], kBias: slot[p + "self_attn.k_proj.bias"],
                vBias: slot[p + "self_attn.v_proj.bias"], oBias: slot[p + "self_attn.o_proj.bias"])
        }
        embedSlot = slot["model.embed_tokens.weight"]!
        finalNormSlot = slot["model.norm.weight"]!
        lmHeadSlot = slot["lm_head.weight"] ?? embedSlot
        wingsSlots = Self.wingsSlots(config, slot: slot)
    }

    /// Hugging Face's initialisation: matrices N(0, 0.02²), norm weights 1, biases 0
    /// (Wings' learners, if any: `initializeWings`).
    public func initialize(seed: UInt64, std: Float = 0.02) {
        var rng = SeededGenerator(seed: seed)
        for (i, p) in parameters.table.enumerated() where !p.name.contains(".wings.") {
            let t = parameters.value(at: i)
            if p.shape.count >= 2 {
                for j in 0..<t.count { t[j] = rng.normal() * std }
            } else {
                t.fill(p.name.hasSuffix("norm.weight") ? 1 : 0)
            }
        }
        initializeWings(seed: seed &+ 0x5749_4e47)
    }

    /// A frozen snapshot of this decoder as it is now (a distillation teacher): the tensors that
    /// train get a copy; frozen tensors are shared, read-only views of this decoder's values
    /// (they do not change while frozen), so a teacher costs memory only for what trains.
    public func snapshot() -> DecoderModel {
        DecoderModel(config: config, parameters: Parameters(snapshotOf: parameters, copying: Set(parameters.trainableIndices)))
    }

    private func w(_ i: Int) -> Tensor { parameters.value(at: i) }
    private func w(_ i: Int?) -> Tensor? { i.map { parameters.value(at: $0) } }
    private func g(_ i: Int) -> Tensor? { parameters.gradient(at: i) }
    private func g(_ i: Int?) -> Tensor? { i.flatMap { parameters.gradient(at: $0) } }

    // MARK: - Forward

    /// Looks up the input embeddings of `acts.tokens` into `acts.embeddings`.
    public func embed(_ acts: DecoderActivations) {
        Embedding.forward(out: acts.embeddings, ids: acts.tokens, table: w(embedSlot))
    }

    /// The residual stream entering layer `l` (N, C): the input embeddings for l = 0, else layer
    /// l − 1's output. Overwriting it and calling `forwardLayers(acts, from: l)` reruns the top.
    public func residualInput(_ acts: DecoderActivations, layer l: Int) -> Tensor {
        precondition(l >= 0 && l < config.numHiddenLayers, "layer \(l) of \(config.numHiddenLayers)")
        let N = acts.batch * acts.sequence
        return l == 0 ? acts.embeddings.reshaped([N, config.hiddenSize]) : acts.layers[l - 1].out
    }

    /// Runs layers `from`… and the head over the residual stream entering layer `from` (the input
    /// embeddings by default), leaving logits in `acts.logits`. Layers below `from` keep the
    /// activations of the last full pass.
    public func forwardLayers(_ acts: DecoderActivations, from first: Int = 0) {
        let B = acts.batch, T = acts.sequence
        let shape = AttentionShape(batch: B, queries: T, keys: T, heads: config.numAttentionHeads,
                                   kvHeads: config.numKeyValueHeads, headSize: config.headSize, causal: true)
        acts.wingsMasks?.update(batch: B, sequence: T, attentionMask: acts.attentionMask, imageRows: acts.replacedRows)
        var x = first == 0 ? acts.embeddings : acts.layers[first - 1].out
        for l in first..<config.numHiddenLayers {
            let a = acts.layers[l]
            block(l, x: x, a: a, sequence: T, startPosition: 0, attend: {
                Attention.forward(y: a.attY, att: a.att, q: a.q, k: a.k, v: a.v, keyMask: acts.attentionMask, shape: shape)
            }, learners: { self.learnersForward(l, h: a.h, att: a.att, acts: acts) })
            x = a.out
        }
        head(x: x, lnf: acts.lnf, rstd: acts.rstdf, logits: acts.logits)
    }

    /// `embed` then `forwardLayers`.
    public func forward(_ acts: DecoderActivations) {
        embed(acts)
        forwardLayers(acts)
    }

    /// Mean cross-entropy of `acts.logits` against `acts.targets` and the count of scored tokens.
    public func loss(_ acts: DecoderActivations) -> (loss: Float, count: Int) {
        CrossEntropy.forward(losses: acts.losses, logits: acts.logits, targets: acts.targets)
    }

    /// One layer: norm → q/k/v → RoPE → `attend` (fills a.attY) → o_proj + residual → `learners`
    /// (Wings, in place on a.h) → norm → SwiGLU MLP + residual.
    /// Shared by training (`attend` over the batch) and cached inference (`attend` over the KV cache).
    func block(_ l: Int, x: Tensor, a: LayerBuffers, sequence T: Int, startPosition: Int, attend: () -> Void, learners: () -> Void) {
        let s = layerSlots[l], c = config
        RMSNorm.forward(y: a.ln1, rstd: a.rstd1, x: x, w: w(s.inputNorm), eps: c.rmsNormEps)
        Linear.forward(y: a.q, x: a.ln1, w: w(s.q), b: w(s.qBias))
        Linear.forward(y: a.k, x: a.ln1, w: w(s.k), b: w(s.kBias))
        Linear.forward(y: a.v, x: a.ln1, w: w(s.v), b: w(s.vBias))
        rope.forward(a.q, heads: c.numAttentionHeads, rowsPerSequence: T, startPosition: startPosition)
        rope.forward(a.k, heads: c.numKeyValueHeads, rowsPerSequence: T, startPosition: startPosition)
        attend()
        Linear.forward(y: a.h, x: a.attY, w: w(s.o), b: w(s.oBias))
        Elementwise.add(a.h, a.h, x)
        if wingsSlots[l] != nil { learners() }
        RMSNorm.forward(y: a.ln2, rstd: a.rstd2, x: a.h, w: w(s.postNorm), eps: c.rmsNormEps)
        Linear.forward(y: a.gate, x: a.ln2, w: w(s.gate))
        Linear.forward(y: a.up, x: a.ln2, w: w(s.up))
        SwiGLU.forward(out: a.act, gate: a.gate, up: a.up)
        Linear.forward(y: a.out, x: a.act, w: w(s.down))
        Elementwise.add(a.out, a.out, a.h)
    }

    func head(x: Tensor, lnf: Tensor, rstd: Tensor, logits: Tensor) {
        RMSNorm.forward(y: lnf, rstd: rstd, x: x, w: w(finalNormSlot), eps: config.rmsNormEps)
        Linear.forward(y: logits, x: lnf, w: w(lmHeadSlot))
    }

    // MARK: - Backward

    /// Backpropagates `lossScale` · Σ(token losses) (default: the mean loss, 1/count) from the
    /// logits to every trainable parameter's gradient (added into) and to `acts.inputGradient`.
    /// Overwrites `acts.logits` with their gradient. Call after `forward` and `loss`.
    public func backward(_ acts: DecoderActivations, lossScale: Float? = nil) {
        let N = acts.batch * acts.sequence
        let count = (0..<N).reduce(0) { $0 + (acts.targets[$1] >= 0 ? 1 : 0) }
        let scale = lossScale ?? (count > 0 ? 1 / Float(count) : 0)
        // dlogits = (softmax − onehot)·scale
        CrossEntropy.backward(logitsToGradient: acts.logits, targets: acts.targets, scale: scale)
        backward(logitGradient: acts)
    }

    /// Backpropagates the loss gradient that `acts.logits` holds (any loss over the logits: cross-
    /// entropy above, distillation's KL) to every trainable parameter's gradient (added into) and
    /// to `acts.inputGradient`.
    ///
    /// `downTo` l > 0 stops once `residualGradient` holds d loss / d `residualInput(acts, layer: l)`
    /// (for l = 0 it is the whole input-embedding gradient, the Wings learners' path included, and
    /// the embedding table is not touched); `parameterGradients: false` leaves every parameter
    /// gradient as it was. Together they give the gradient with respect to a layer's input alone
    /// (rehearsal feature augmentation).
    public func backward(logitGradient acts: DecoderActivations, downTo first: Int = 0, parameterGradients: Bool = true) {
        let B = acts.batch, T = acts.sequence, c = config, d = acts.scratch
        let shape = AttentionShape(batch: B, queries: T, keys: T, heads: c.numAttentionHeads,
                                   kvHeads: c.numKeyValueHeads, headSize: c.headSize, causal: true)
        let lastOut = c.numHiddenLayers > 0 ? acts.layers[c.numHiddenLayers - 1].out : acts.embeddings
        func g(_ i: Int) -> Tensor? { parameterGradients ? parameters.gradient(at: i) : nil }
        func g(_ i: Int?) -> Tensor? { i.flatMap(g) }

        // logits = lm_head(lnf):  dlnf = dlogits · W;  dW += dlogitsᵀ · lnf
        d.dln.zero()
        Linear.backward(dx: d.dln, dw: g(lmHeadSlot), db: nil, dy: acts.logits, x: acts.lnf, w: w(lmHeadSlot))
        // lnf = RMSNorm(x_L)
        d.dres.zero()
        acts.wingsScratch?.dembeddings.zero()
        RMSNorm.backward(dx: d.dres, dw: g(finalNormSlot), dy: d.dln, x: lastOut, w: w(finalNormSlot), rstd: acts.rstdf)

        for l in stride(from: c.numHiddenLayers - 1, through: first, by: -1) {
            let a = acts.layers[l], s = layerSlots[l]
            let x = l == 0 ? acts.embeddings : acts.layers[l - 1].out
            // out = h + down(act): dres flows to h unchanged; dact = dres · W_down
            d.dact.zero()
            Linear.backward(dx: d.dact, dw: g(s.down), db: nil, dy: d.dres, x: a.act, w: w(s.down))
            // act = silu(gate) ⊙ up
            d.dgate.zero(); d.dup.zero()
            SwiGLU.backward(dgate: d.dgate, dup: d.dup, dout: d.dact, gate: a.gate, up: a.up)
            // gate = ln2·W_gateᵀ, up = ln2·W_upᵀ
            d.dln.zero()
            Linear.backward(dx: d.dln, dw: g(s.gate), db: nil, dy: d.dgate, x: a.ln2, w: w(s.gate))
            Linear.backward(dx: d.dln, dw: g(s.up), db: nil, dy: d.dup, x: a.ln2, w: w(s.up))
            // ln2 = RMSNorm(h): adds into dres, which now holds dh
            RMSNorm.backward(dx: d.dres, dw: g(s.postNorm), dy: d.dln, x: a.h, w: w(s.postNorm), rstd: a.rstd2)
            // h = h' + Wings' routed learners: dres becomes dh'; the router's gradient reaches the attention probabilities
            let routerGradient = wingsSlots[l] == nil ? nil : acts.wingsScratch?.drouterInput
            if routerGradient != nil { learnersBackward(l, dres: d.dres, acts: acts, parameterGradients: parameterGradients) }
            // h = x + o_proj(attY)
            d.dattY.zero()
            Linear.backward(dx: d.dattY, dw: g(s.o), db: g(s.oBias), dy: d.dres, x: a.attY, w: w(s.o))
            // attY = Attn(q, k, v)
            d.dq.zero(); d.dk.zero(); d.dv.zero()
            Attention.backward(dq: d.dq, dk: d.dk, dv: d.dv, datt: d.datt, dy: d.dattY,
                               att: a.att, q: a.q, k: a.k, v: a.v, shape: shape, headSumGradient: routerGradient)
            // q, k were rotated in place: rotate their gradients back
            rope.backward(d.dq, heads: c.numAttentionHeads, rowsPerSequence: T)
            rope.backward(d.dk, heads: c.numKeyValueHeads, rowsPerSequence: T)
            // q, k, v = ln1·Wᵀ + b
            d.dln.zero()
            Linear.backward(dx: d.dln, dw: g(s.q), db: g(s.qBias), dy: d.dq, x: a.ln1, w: w(s.q))
            Linear.backward(dx: d.dln, dw: g(s.k), db: g(s.kBias), dy: d.dk, x: a.ln1, w: w(s.k))
            Linear.backward(dx: d.dln, dw: g(s.v), db: g(s.vBias), dy: d.dv, x: a.ln1, w: w(s.v))
            // ln1 = RMSNorm(x): adds into dres, which now holds dx
            RMSNorm.backward(dx: d.dres, dw: g(s.inputNorm), dy: d.dln, x: x, w: w(s.inputNorm), rstd: a.rstd1)
        }
        guard first == 0 else { return }
        // Wings' learners read the layer-0 embeddings as keys and values in every layer
        if let ws = acts.wingsScratch { Elementwise.add(d.dres, d.dres, ws.dembeddings) }
        guard parameterGradients else { return }
        // embeddings = embed_tokens[tokens]
        if let ge = g(embedSlot) { Embedding.backward(dtable: ge, dout: d.dres, ids: acts.tokens, skip: acts.replacedRows) }
    }
}
