import Foundation
import Tensor

/// A LLaMA/Qwen2-family decoder: forward and backward over a batch, in llm.c style.
///
/// Per layer:  h = x + o_proj(Attn(RMSNorm(x)));  out = h + down(silu(gate(n)) ⊙ up(n)),  n = RMSNorm(h).
/// Final:      logits = lm_head(RMSNorm(x_L))   (lm_head = embed_tokens when tied).
///
/// Adapters (`DecoderAdapter`: Wings' learners) are attached, not built in: their tensors follow
/// the decoder's own in `parameters` and the decoder calls them at fixed hook points, after each
/// projection and after the attention residual.
///
/// Legend in kernels: B batch, T sequence, N = B·T rows, C hidden, NH/NKV heads, D head size.
public final class DecoderModel: @unchecked Sendable {
    public let config: DecoderConfig
    public let parameters: Parameters
    /// The adapters attached (by default those `config` records), called at the hook points in
    /// this order (backward: reversed).
    public let adapters: [any DecoderAdapter]
    /// What `adapters` were made from (a snapshot or a grown copy attaches the same).
    public let adapterSpecs: [any DecoderAdapterSpec]
    let rope: RoPE
    let layout: DecoderLayout
    /// bfloat16 copies of the projection matrices, by parameter index, that cached inference
    /// reads instead of the float32 values (``useInferencePrecision(_:)``); empty: float32.
    var inferenceMatrices: [Int: BF16Matrix] = [:]

    /// A decoder with zero weights (load or `initialize` them next) and the adapters `specs`
    /// attached (default: those `config` records); nothing trains until `setTrainable`.
    public convenience init(config: DecoderConfig, adapters specs: [any DecoderAdapterSpec]? = nil) {
        let specs = specs ?? config.adapterSpecs, layout = DecoderLayout(config, adapters: specs)
        self.init(config: config, specs: specs, layout: layout, parameters: Parameters(layout.table))
    }

    /// A decoder over existing parameters laid out as this config and these adapters lay them out.
    convenience init(config: DecoderConfig, adapters specs: [any DecoderAdapterSpec], parameters: Parameters) {
        self.init(config: config, specs: specs, layout: DecoderLayout(config, adapters: specs), parameters: parameters)
    }

    private init(config: DecoderConfig, specs: [any DecoderAdapterSpec], layout: DecoderLayout, parameters: Parameters) {
        precondition(parameters.table == layout.table, "parameters laid out for another config")
        self.config = config
        self.layout = layout
        self.parameters = parameters
        adapterSpecs = specs
        adapters = layout.adapters
        let frequencies = RoPE.inverseFrequencies(headSize: config.headSize, theta: config.ropeTheta)
        rope = RoPE(headSize: config.headSize, maxPositions: config.maxPositionEmbeddings,
                    inverseFrequencies: config.ropeScaling?.apply(frequencies) ?? frequencies)
    }

    /// Added to the seed of `initialize` for the adapters (adapter i: + i).
    static let adapterSeedOffset: UInt64 = 0x5749_4e47

    /// Hugging Face's initialisation: matrices N(0, 0.02²), norm weights 1, biases 0; each
    /// adapter then initialises its own tensors (fresh: they change nothing).
    public func initialize(seed: UInt64, std: Float = 0.02) {
        var rng = SeededGenerator(seed: seed)
        for (i, p) in parameters.table.enumerated().prefix(layout.coreCount) {
            let t = parameters.value(at: i)
            if p.shape.count >= 2 {
                for j in 0..<t.count { t[j] = rng.normal() * std }
            } else {
                t.fill(p.name.hasSuffix("norm.weight") ? 1 : 0)
            }
        }
        for (i, adapter) in adapters.enumerated() { adapter.initialize(parameters, seed: seed &+ Self.adapterSeedOffset &+ UInt64(i)) }
    }

    /// A frozen snapshot of this decoder as it is now (a distillation teacher): the tensors that
    /// train get a copy; frozen tensors are shared, read-only views of this decoder's values
    /// (they do not change while frozen), so a teacher costs memory only for what trains.
    public func snapshot() -> DecoderModel {
        DecoderModel(config: config, adapters: adapterSpecs, parameters: Parameters(snapshotOf: parameters, copying: Set(parameters.trainableIndices)))
    }

    /// A copy of this decoder with the adapter `spec` attached fresh (`DecoderAdapter.initialize`
    /// with `seed`): it computes exactly what this one computes until the adapter trains. Adapters
    /// that config.json records take its order (`DecoderConfig.adapterSpecs`), whatever the order
    /// they were attached in, so the copy's tensors lie as a decoder loaded from that config lays
    /// them; adapters it does not record follow, in the order they were attached.
    public func attaching(_ spec: any DecoderAdapterSpec, seed: UInt64) -> DecoderModel {
        let recorded = spec.recorded(in: config)
        let unrecorded = Array(adapterSpecs.dropFirst(config.adapterSpecs.count))
            + (recorded.adapterSpecs.count > config.adapterSpecs.count ? [] : [spec])
        let grown = DecoderModel(config: recorded, adapters: recorded.adapterSpecs + unrecorded)
        for adapter in grown.adapters { adapter.initialize(grown.parameters, seed: seed) }
        // Every tensor this decoder has (adapters attached before included) keeps its value.
        for (i, p) in parameters.table.enumerated() { grown.parameters.value(p.name).copy(from: parameters.value(at: i)) }
        return grown
    }

    private func w(_ s: ParameterSlot) -> Tensor { parameters.value(s) }
    private func w(_ s: ParameterSlot?) -> Tensor? { parameters.value(s) }

    /// Activations for a training batch of B sequences of T tokens, the adapters' state included.
    public func makeActivations(batch: Int, sequence: Int) -> DecoderActivations {
        DecoderActivations(config: config, batch: batch, sequence: sequence, adapters: adapters)
    }

    /// A KV cache for B sequences of up to `capacity` positions, run `chunk` new tokens at a time
    /// (default: all at once), the adapters' state included. Its size is checked against the
    /// memory available first (``SizeLimits/checkWorkingMemory(_:held:what:remedy:)``): `remedy`
    /// names the settings that size it, for the message.
    public func makeCache(batch: Int, capacity: Int, chunk: Int? = nil, remedy: String = "use a smaller batch or fewer tokens") throws -> KVCache {
        try SizeLimits.checkWorkingMemory(KVCache.bytes(config: config, batch: batch, capacity: capacity, chunk: chunk),
                                          held: parameters.values.bytes,
                                          what: "a KV cache for \(batch) sequence\(batch == 1 ? "" : "s") of \(capacity) positions", remedy: remedy)
        return KVCache(config: config, batch: batch, capacity: capacity, chunk: chunk, adapters: adapters)
    }

    /// One line per attached adapter, for the training log.
    public var adapterSummaries: [String] { adapters.map { $0.summary(parameters) } }

    // MARK: - Forward

    /// Looks up the input embeddings of `acts.tokens` into `acts.embeddings`.
    public func embed(_ acts: DecoderActivations) {
        Embedding.forward(out: acts.embeddings, ids: acts.tokens, table: w(layout.embed))
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
        let attached = attachedPasses(acts)
        for a in attached { a.adapter.beginForward(a.pass, fromLayer: first) }
        var x = first == 0 ? acts.embeddings : acts.layers[first - 1].out
        for l in first..<config.numHiddenLayers {
            let a = acts.layers[l]
            block(l, x: x, a: a, positions: .consecutive(rowsPerSequence: T, start: 0), adapters: attached) {
                Attention.forward(y: a.attY, att: a.att, q: a.q, k: a.k, v: a.v, keyMask: acts.attentionMask, shape: shape)
                return AttentionProbabilities(probabilities: a.att, shape: shape)
            }
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

    /// One layer: norm → q/k/v → RoPE → `attend` (fills a.attY) → o_proj + residual → adapters
    /// after attention (in place on a.h) → norm → SwiGLU MLP + residual; each projection is
    /// followed by the adapters' projection hook. Shared by training (`attend` over the batch)
    /// and cached inference (`attend` over the KV cache).
    /// `cached`: a pass over the KV cache (inference), which reads the inference matrices.
    func block(_ l: Int, x: Tensor, a: LayerBuffers, positions: RoPE.Positions, adapters: [AttachedPass], cached: Bool = false,
               attend: () -> AttentionProbabilities) {
        let s = layout.layers[l], c = config
        let project = { (p: Projection, y: Tensor, x: Tensor, w: ParameterSlot, b: ParameterSlot?) in
            self.project(p, l, y: y, x: x, w: w, b: b, adapters, cached: cached)
        }
        RMSNorm.forward(y: a.ln1, rstd: a.rstd1, x: x, w: w(s.inputNorm), eps: c.rmsNormEps)
        project(.q, a.q, a.ln1, s.q, s.qBias)
        project(.k, a.k, a.ln1, s.k, s.kBias)
        project(.v, a.v, a.ln1, s.v, s.vBias)
        rope.forward(a.q, heads: c.numAttentionHeads, positions: positions)
        rope.forward(a.k, heads: c.numKeyValueHeads, positions: positions)
        let attention = attend()
        project(.o, a.h, a.attY, s.o, s.oBias)
        Elementwise.add(a.h, a.h, x)
        for p in adapters { p.adapter.afterAttention(layer: l, h: a.h, attention: attention, p.pass) }
        RMSNorm.forward(y: a.ln2, rstd: a.rstd2, x: a.h, w: w(s.postNorm), eps: c.rmsNormEps)
        project(.gate, a.gate, a.ln2, s.gate, s.gateBias)
        project(.up, a.up, a.ln2, s.up, s.upBias)
        SwiGLU.forward(out: a.act, gate: a.gate, up: a.up)
        project(.down, a.out, a.act, s.down, s.downBias)
        Elementwise.add(a.out, a.out, a.h)
    }

    /// y = x·Wᵀ (+ b), then every adapter's hook for `projection`.
    private func project(_ projection: Projection, _ l: Int, y: Tensor, x: Tensor, w weight: ParameterSlot, b bias: ParameterSlot? = nil,
                         _ adapters: [AttachedPass], cached: Bool) {
        Linear.forward(y: y, x: x, w: matrix(weight, cached: cached), b: w(bias))
        for p in adapters { p.adapter.projection(projection, layer: l, x: x, y: y, p.pass) }
    }

    /// The weight at `slot` as a product reads it: its bfloat16 copy in a cached pass, if it has one.
    private func matrix(_ slot: ParameterSlot, cached: Bool) -> WeightMatrix {
        if cached, let m = inferenceMatrices[slot.index] { return .bf16(m) }
        return .f32(w(slot))
    }

    func head(x: Tensor, lnf: Tensor, rstd: Tensor, logits: Tensor, cached: Bool = false) {
        RMSNorm.forward(y: lnf, rstd: rstd, x: x, w: w(layout.finalNorm), eps: config.rmsNormEps)
        Linear.forward(y: logits, x: lnf, w: matrix(layout.lmHead, cached: cached))
    }

    // MARK: - Backward

    /// Backpropagates `lossScale` · Σ(token losses) (default: the mean loss, 1/count) from the
    /// logits to every trainable parameter's gradient (added into) and to `acts.inputGradient`.
    /// Overwrites `acts.logits` with their gradient. Call after `forward` and `loss`.
    /// `extraLogitGradient` adds another loss's gradient into the logits' (a distillation term),
    /// given the scale the cross-entropy's was taken at.
    public func backward(_ acts: DecoderActivations, lossScale: Float? = nil, extraLogitGradient: ((Tensor, Float) -> Void)? = nil) {
        let N = acts.batch * acts.sequence
        let count = (0..<N).reduce(0) { $0 + (acts.targets[$1] >= 0 ? 1 : 0) }
        let scale = lossScale ?? (count > 0 ? 1 / Float(count) : 0)
        // dlogits = (softmax − onehot)·scale
        CrossEntropy.backward(logitsToGradient: acts.logits, targets: acts.targets, scale: scale)
        extraLogitGradient?(acts.logits, scale)
        backward(logitGradient: acts)
    }

    /// Backpropagates the loss gradient that `acts.logits` holds (any loss over the logits: cross-
    /// entropy above, distillation's KL) to every trainable parameter's gradient (added into) and
    /// to `acts.inputGradient`.
    ///
    /// `downTo` l > 0 stops once `residualGradient` holds d loss / d `residualInput(acts, layer: l)`
    /// (for l = 0 it is the whole input-embedding gradient, the adapters' paths included, and
    /// the embedding table is not touched); `parameterGradients: false` leaves every parameter
    /// gradient as it was. Together they give the gradient with respect to a layer's input alone
    /// (rehearsal feature augmentation).
    public func backward(logitGradient acts: DecoderActivations, downTo first: Int = 0, parameterGradients: Bool = true) {
        let d = acts.scratch, lastOut = config.numHiddenLayers > 0 ? acts.layers[config.numHiddenLayers - 1].out : acts.embeddings
        let g = { (s: ParameterSlot?) in parameterGradients ? self.parameters.gradient(s) : nil }
        let attached = attachedPasses(acts, parameterGradients: parameterGradients).reversed()
        for a in attached { a.adapter.beginBackward(a.backward!) }
        // logits = lm_head(lnf):  dlnf = dlogits · W;  dW += dlogitsᵀ · lnf
        d.dln.zero()
        Linear.backward(dx: d.dln, dw: g(layout.lmHead), db: nil, dy: acts.logits, x: acts.lnf, w: w(layout.lmHead))
        // lnf = RMSNorm(x_L)
        d.dres.zero()
        RMSNorm.backward(dx: d.dres, dw: g(layout.finalNorm), dy: d.dln, x: lastOut, w: w(layout.finalNorm), rstd: acts.rstdf)
        for l in stride(from: config.numHiddenLayers - 1, through: first, by: -1) {
            layerBackward(l, acts, g, Array(attached))
        }
        guard first == 0 else { return }
        for a in attached { a.adapter.endBackward(inputGradient: d.dres, a.backward!) }
        guard parameterGradients else { return }
        // embeddings = embed_tokens[tokens]
        if let ge = g(layout.embed) { Embedding.backward(dtable: ge, dout: d.dres, ids: acts.tokens, skip: acts.replacedRows) }
    }

    /// One layer's backward: `acts.scratch.dres` holds d loss / d(the layer's output) and ends
    /// holding d loss / d(its input). `g` gives a parameter's gradient (nil: frozen or not accumulated).
    private func layerBackward(_ l: Int, _ acts: DecoderActivations, _ g: (ParameterSlot?) -> Tensor?, _ adapters: [AttachedPass]) {
        let c = config, d = acts.scratch, a = acts.layers[l], s = layout.layers[l], T = acts.sequence
        let shape = AttentionShape(batch: acts.batch, queries: T, keys: T, heads: c.numAttentionHeads,
                                   kvHeads: c.numKeyValueHeads, headSize: c.headSize, causal: true)
        let x = l == 0 ? acts.embeddings : acts.layers[l - 1].out
        // out = h + down(act): dres flows to h unchanged; dact = dres · W_down
        d.dact.zero()
        projectBackward(.down, l, dx: d.dact, dy: d.dres, x: a.act, w: s.down, b: s.downBias, g, adapters)
        // act = silu(gate) ⊙ up
        d.dgate.zero(); d.dup.zero()
        SwiGLU.backward(dgate: d.dgate, dup: d.dup, dout: d.dact, gate: a.gate, up: a.up)
        // gate = ln2·W_gateᵀ, up = ln2·W_upᵀ
        d.dln.zero()
        projectBackward(.gate, l, dx: d.dln, dy: d.dgate, x: a.ln2, w: s.gate, b: s.gateBias, g, adapters)
        projectBackward(.up, l, dx: d.dln, dy: d.dup, x: a.ln2, w: s.up, b: s.upBias, g, adapters)
        // ln2 = RMSNorm(h): adds into dres, which now holds dh
        RMSNorm.backward(dx: d.dres, dw: g(s.postNorm), dy: d.dln, x: a.h, w: w(s.postNorm), rstd: a.rstd2)
        // h = h' + the adapters' updates: dres becomes dh'; an adapter reading the attention
        // probabilities (Wings' router) returns its gradient with respect to them
        var probabilityGradient: Tensor?
        for p in adapters {
            guard let gp = p.adapter.afterAttentionBackward(layer: l, dh: d.dres, p.backward!) else { continue }
            precondition(probabilityGradient == nil, "two adapters read layer \(l)'s attention probabilities")
            probabilityGradient = gp
        }
        // h = x + o_proj(attY)
        d.dattY.zero()
        projectBackward(.o, l, dx: d.dattY, dy: d.dres, x: a.attY, w: s.o, b: s.oBias, g, adapters)
        // attY = Attn(q, k, v)
        d.dq.zero(); d.dk.zero(); d.dv.zero()
        Attention.backward(dq: d.dq, dk: d.dk, dv: d.dv, datt: d.datt, dy: d.dattY, att: a.att, q: a.q, k: a.k, v: a.v,
                           shape: shape, probabilitySumGradient: probabilityGradient)
        // q, k were rotated in place: rotate their gradients back
        rope.backward(d.dq, heads: c.numAttentionHeads, rowsPerSequence: T)
        rope.backward(d.dk, heads: c.numKeyValueHeads, rowsPerSequence: T)
        // q, k, v = ln1·Wᵀ + b
        d.dln.zero()
        projectBackward(.q, l, dx: d.dln, dy: d.dq, x: a.ln1, w: s.q, b: s.qBias, g, adapters)
        projectBackward(.k, l, dx: d.dln, dy: d.dk, x: a.ln1, w: s.k, b: s.kBias, g, adapters)
        projectBackward(.v, l, dx: d.dln, dy: d.dv, x: a.ln1, w: s.v, b: s.vBias, g, adapters)
        // ln1 = RMSNorm(x): adds into dres, which now holds dx
        RMSNorm.backward(dx: d.dres, dw: g(s.inputNorm), dy: d.dln, x: x, w: w(s.inputNorm), rstd: a.rstd1)
    }

    /// y = x·Wᵀ (+ b) backward: dx += dy·W, dW += dyᵀ·x (db += Σ dy), then the adapters' hooks.
    private func projectBackward(_ projection: Projection, _ l: Int, dx: Tensor, dy: Tensor, x: Tensor, w weight: ParameterSlot,
                                 b bias: ParameterSlot? = nil, _ g: (ParameterSlot?) -> Tensor?, _ adapters: [AttachedPass]) {
        Linear.backward(dx: dx, dw: g(weight), db: g(bias), dy: dy, x: x, w: w(weight))
        for p in adapters { p.adapter.projectionBackward(projection, layer: l, dy: dy, x: x, dx: dx, p.backward!) }
    }

    /// Input-embedding gradients that reach the embedding table from outside the decoder (Parrot's
    /// guidance text): dtable += scatter(`dembeddings`) at `acts.tokens`, skipping replaced rows.
    /// A second scatter after `backward`'s own, so the table's gradient sums both paths.
    public func backwardEmbeddings(_ dembeddings: Tensor, _ acts: DecoderActivations) {
        guard let ge = parameters.gradient(layout.embed) else { return }
        Embedding.backward(dtable: ge, dout: dembeddings, ids: acts.tokens, skip: acts.replacedRows)
    }

    /// Whether the embedding table trains (something upstream then owes it a gradient).
    public var embeddingTrains: Bool { parameters.gradient(layout.embed) != nil }

    /// The embedding table (read-only use: looking up guidance text at inference).
    public var embeddingTable: Tensor { w(layout.embed) }

    /// The adapters with their state in `acts`, as hook passes over the training batch.
    private func attachedPasses(_ acts: DecoderActivations, parameterGradients: Bool? = nil) -> [AttachedPass] {
        precondition(acts.adapterStates.count == adapters.count, "activations made for other adapters: use makeActivations(batch:sequence:)")
        return zip(adapters, acts.adapterStates).map { adapter, state in
            let pass = AdapterPass(parameters: parameters, state: state, batch: acts.batch, rows: acts.sequence, start: 0,
                                   keyStride: acts.sequence, keyMask: acts.attentionMask, keyOffset: nil, imageRows: acts.replacedRows,
                                   inputEmbeddings: acts.embeddings.reshaped([acts.batch * acts.sequence, config.hiddenSize]))
            let d = acts.scratch
            return AttachedPass(adapter: adapter, pass: pass, backward: parameterGradients.map {
                AdapterBackwardPass(forward: pass, parameterGradients: $0,
                                    scratch: AdapterScratch(dq: d.dq, dk: d.dk, dv: d.dv, datt: d.datt, dattY: d.dattY))
            })
        }
    }
}

/// An adapter with the pass its hooks receive (and the backward pass, during backward).
struct AttachedPass {
    let adapter: any DecoderAdapter
    let pass: AdapterPass
    let backward: AdapterBackwardPass?
}
