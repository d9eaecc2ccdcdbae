import Tensor

/// Wings (Zhang et al., 2024) on the decoder: in each chosen layer, after the attention residual
/// and before the MLP's norm,
///
///     h'' = h' + w_v · VisualLearner(h', V) + w_t · TextualLearner(h', T)
///
/// V: the image tokens (the projector's outputs, spliced into the layer-0 embeddings), T: the
/// layer-0 embeddings at text positions; both learners are `LoRRA`, the weights come from
/// `WingsRouter`. Both learners read keys from the same layer-0 embeddings, with complementary
/// key masks (image rows / text rows) and the causal mask.
///
/// Differences from the released reference code, on purpose (../shared/DESIGN.md):
/// - each routed output is added to the residual stream once (the release adds it twice);
/// - the visual learner is masked: a query sees only image tokens at or before its position in
///   its own sequence, never padding, and rows that see no image (text-only samples) are not
///   routed: w = (0, 1), the textual learner alone (the release runs the visual learner unmasked);
/// - the router's input keeps its gradient into the main attention (the backward is exact).
struct WingsSlots {
    let visual: LoRRA.Weights<Int>
    let textual: LoRRA.Weights<Int>
    let routerWeight: Int
    let routerBias: Int
}

/// One layer's saved Wings activations.  N = B·T rows, L = router_max_keys.
struct WingsLayerBuffers {
    let hPrime: Tensor        // (N, C) the residual stream after attention, before the learners
    let routerInput: Tensor   // (N, L) a
    let routerLogits: Tensor  // (N, 2) z
    let weights: Tensor       // (N, 2) w = (w_v, w_t)
    let visual: LoRRA.Buffers
    let textual: LoRRA.Buffers

    init(rows N: Int, batch B: Int, sequence T: Int, config c: DecoderConfig, wings: WingsConfig, _ allocate: ([Int]) -> Tensor) {
        let C = c.hiddenSize
        hPrime = allocate([N, C]); routerInput = allocate([N, wings.routerMaxKeys])
        routerLogits = allocate([N, 2]); weights = allocate([N, 2])
        visual = LoRRA.Buffers(rows: N, batch: B, queries: T, keys: T, heads: c.numAttentionHeads, hidden: C,
                               kvSize: c.kvSize, rank: wings.rank, allocate)
        textual = LoRRA.Buffers(rows: N, batch: B, queries: T, keys: T, heads: c.numAttentionHeads, hidden: C,
                                kvSize: c.kvSize, rank: wings.rank, allocate)
    }
}

/// Wings' backward scratch, shared by the layers.
struct WingsScratch {
    let doutVisual: Tensor    // (N, C) w_v ⊙ dh''
    let doutTextual: Tensor   // (N, C) w_t ⊙ dh''
    let dweights: Tensor      // (N, 2)
    let drouterInput: Tensor  // (N, L) da, handed to the main attention's backward
    let dr: Tensor            // (N, r)
    let dembeddings: Tensor   // (N, C) the learners' gradient into the layer-0 embeddings, summed over layers

    init(rows N: Int, config c: DecoderConfig, wings: WingsConfig, _ allocate: ([Int]) -> Tensor) {
        doutVisual = allocate([N, c.hiddenSize]); doutTextual = allocate([N, c.hiddenSize])
        dweights = allocate([N, 2]); drouterInput = allocate([N, wings.routerMaxKeys])
        dr = allocate([N, wings.rank]); dembeddings = allocate([N, c.hiddenSize])
    }
}

/// Which rows are image tokens, and which queries see one: derived from the batch once per forward.
struct WingsMasks {
    let imageKeys: UnsafeMutablePointer<Int32>  // (N) 1 = a real image row: the visual learner's keys
    let textKeys: UnsafeMutablePointer<Int32>   // (N) 1 = a real text row: the textual learner's keys
    let routed: UnsafeMutablePointer<UInt8>     // (N) 1 = an image row at or before this one
    var hasImages = false

    init(rows N: Int) {
        imageKeys = .allocate(capacity: N); imageKeys.initialize(repeating: 0, count: N)
        textKeys = .allocate(capacity: N); textKeys.initialize(repeating: 0, count: N)
        routed = .allocate(capacity: N); routed.initialize(repeating: 0, count: N)
    }

    func deallocate() { imageKeys.deallocate(); textKeys.deallocate(); routed.deallocate() }

    /// From the padding mask and the rows whose embedding is an image token.
    mutating func update(batch B: Int, sequence T: Int, attentionMask: UnsafePointer<Int32>, imageRows: UnsafePointer<UInt8>) {
        hasImages = false
        for b in 0..<B {
            var seen = false
            for t in 0..<T {
                let n = b * T + t, real = attentionMask[n] != 0, image = imageRows[n] != 0
                imageKeys[n] = real && image ? 1 : 0
                textKeys[n] = real && !image ? 1 : 0
                seen = seen || (real && image)
                routed[n] = seen ? 1 : 0
            }
            hasImages = hasImages || seen
        }
    }
}

extension DecoderModel {
    /// The learners' and router's tensors of a decoder with `wings`, appended after the decoder's own.
    static func wingsTable(_ c: DecoderConfig) -> [ParameterInfo] {
        guard let wings = c.wings else { return [] }
        let shapes = LoRRA.shapes(hidden: c.hiddenSize, kvSize: c.kvSize, rank: wings.rank)
        var t: [ParameterInfo] = []
        for l in wings.chosenLayers(of: c.numHiddenLayers) {
            let p = "model.layers.\(l).wings."
            for learner in ["visual", "textual"] {
                for (name, shape) in zip(LoRRA.names, shapes) { t.append(ParameterInfo(name: p + learner + "." + name, shape: shape)) }
            }
            t.append(ParameterInfo(name: p + "router.weight", shape: [2, wings.routerMaxKeys]))
            t.append(ParameterInfo(name: p + "router.bias", shape: [2]))
        }
        return t
    }

    static func wingsSlots(_ c: DecoderConfig, slot: [String: Int]) -> [Int: WingsSlots] {
        guard let wings = c.wings else { return [:] }
        var slots: [Int: WingsSlots] = [:]
        for l in wings.chosenLayers(of: c.numHiddenLayers) {
            let p = "model.layers.\(l).wings."
            func learner(_ name: String) -> LoRRA.Weights<Int> {
                let i = LoRRA.names.map { slot[p + name + "." + $0]! }
                return LoRRA.Weights(qA: i[0], qB: i[1], kA: i[2], kB: i[3], vA: i[4], vB: i[5], oA: i[6], oB: i[7])
            }
            slots[l] = WingsSlots(visual: learner("visual"), textual: learner("textual"),
                                  routerWeight: slot[p + "router.weight"]!, routerBias: slot[p + "router.bias"]!)
        }
        return slots
    }

    /// Fresh learners: A and the router's weight from a truncated N(0, std²), B and the router's
    /// bias 0, so the decoder computes exactly what it computed without them.
    public func initializeWings(seed: UInt64) {
        guard let wings = config.wings else { return }
        var rng = SeededGenerator(seed: seed)
        for (i, p) in parameters.table.enumerated() where p.name.contains(".wings.") {
            let t = parameters.value(at: i)
            if p.name.contains("lora_A") || p.name.hasSuffix("router.weight") {
                rng.fillTruncatedNormal(t, std: wings.initializerRange)
            } else {
                t.zero()
            }
        }
    }

    func weights(_ s: LoRRA.Weights<Int>) -> LoRRA.Weights<Tensor> {
        let v = { (i: Int) in self.parameters.value(at: i) }
        return LoRRA.Weights(qA: v(s.qA), qB: v(s.qB), kA: v(s.kA), kB: v(s.kB), vA: v(s.vA), vB: v(s.vB), oA: v(s.oA), oB: v(s.oB))
    }

    func gradients(_ s: LoRRA.Weights<Int>, accumulate: Bool = true) -> LoRRA.Weights<Tensor?> {
        let g = { (i: Int) in accumulate ? self.parameters.gradient(at: i) : nil }
        return LoRRA.Weights(qA: g(s.qA), qB: g(s.qB), kA: g(s.kA), kB: g(s.kB), vA: g(s.vA), vB: g(s.vB), oA: g(s.oA), oB: g(s.oB))
    }

    /// The learners' attention: causal over the batch's own rows, keys chosen by a mask.
    func learnerShape(batch B: Int, sequence T: Int) -> AttentionShape {
        AttentionShape(batch: B, queries: T, keys: T, heads: config.numAttentionHeads,
                       kvHeads: config.numKeyValueHeads, headSize: config.headSize, causal: true)
    }

    /// h (holding h') ← h'' = h' + w_v·O_v + w_t·O_t over a training batch; `att` is the main attention's.
    func learnersForward(_ l: Int, h: Tensor, att: Tensor, acts: DecoderActivations) {
        guard let s = wingsSlots[l], let wb = acts.wings[l] else { return }
        let B = acts.batch, T = acts.sequence, N = B * T, C = config.hiddenSize
        let shape = learnerShape(batch: B, sequence: T), masks = acts.wingsMasks!
        let x0 = acts.embeddings.reshaped([N, C])
        wb.hPrime.copy(from: h)
        WingsRouter.forward(weights: wb.weights, logits: wb.routerLogits, input: wb.routerInput, att: att, shape: shape,
                            routed: masks.routed, w: parameters.value(at: s.routerWeight), b: parameters.value(at: s.routerBias))
        if masks.hasImages {
            LoRRA.forward(weights(s.visual), xq: wb.hPrime, xkv: x0, keyMask: masks.imageKeys, shape: shape, wb.visual)
        }
        LoRRA.forward(weights(s.textual), xq: wb.hPrime, xkv: x0, keyMask: masks.textKeys, shape: shape, wb.textual)
        Self.mix(into: h, weights: wb.weights, visual: masks.hasImages ? wb.visual.out : nil, textual: wb.textual.out)
    }

    /// h += w_v ⊙ O_v + w_t ⊙ O_t, row by row (O_v nil: no row of the batch is routed).
    static func mix(into h: Tensor, weights: Tensor, visual: Tensor?, textual: Tensor) {
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

    /// From dh'' in `dres`: adds the learners' and router's gradients, leaves dh' in `dres`, the
    /// router's gradient into the main attention's probabilities in `scratch.drouterInput`, and
    /// adds the gradient into the layer-0 embeddings to `scratch.dembeddings`; with
    /// `parameterGradients` false the learners' and router's own gradients are not touched.
    func learnersBackward(_ l: Int, dres: Tensor, acts: DecoderActivations, parameterGradients: Bool = true) {
        guard let s = wingsSlots[l], let wb = acts.wings[l], let ws = acts.wingsScratch else { return }
        let B = acts.batch, T = acts.sequence, N = B * T, C = config.hiddenSize
        let shape = learnerShape(batch: B, sequence: T), masks = acts.wingsMasks!, d = acts.scratch
        let x0 = acts.embeddings.reshaped([N, C])
        // h'' = h' + w_v O_v + w_t O_t:  dO_v = w_v dh'',  dw_v = ⟨O_v, dh''⟩  (and t)
        let images = masks.hasImages
        Parallel.forEach(N, costPerItem: 4 * C) { range in
            for n in range {
                let dh = dres.data + n * C, wv = wb.weights.data[2 * n], wt = wb.weights.data[2 * n + 1]
                let ot = wb.textual.out.data + n * C, dt = ws.doutTextual.data + n * C
                var dotT: Float = 0, dotV: Float = 0
                for c in 0..<C { dt[c] = wt * dh[c]; dotT += ot[c] * dh[c] }
                if images {
                    let ov = wb.visual.out.data + n * C, dv = ws.doutVisual.data + n * C
                    for c in 0..<C { dv[c] = wv * dh[c]; dotV += ov[c] * dh[c] }
                }
                ws.dweights.data[2 * n] = dotV
                ws.dweights.data[2 * n + 1] = dotT
            }
        }
        let g = { (i: Int) in parameterGradients ? self.parameters.gradient(at: i) : nil }
        WingsRouter.backward(dinput: ws.drouterInput, dW: g(s.routerWeight), db: g(s.routerBias), dweights: ws.dweights, weights: wb.weights,
                             input: wb.routerInput, routed: masks.routed, w: parameters.value(at: s.routerWeight))
        let scratch = LoRRA.Scratch(dq: d.dq, dk: d.dk, dv: d.dv, datt: d.datt, dy: d.dattY, dr: ws.dr)
        if images {
            LoRRA.backward(weights(s.visual), gradients(s.visual, accumulate: parameterGradients), dout: ws.doutVisual, xq: wb.hPrime, xkv: x0, shape: shape,
                           wb.visual, scratch, dxq: dres, dxkv: ws.dembeddings)
        }
        LoRRA.backward(weights(s.textual), gradients(s.textual, accumulate: parameterGradients), dout: ws.doutTextual, xq: wb.hPrime, xkv: x0, shape: shape,
                       wb.textual, scratch, dxq: dres, dxkv: ws.dembeddings)
    }
}

extension DecoderModel {
    /// A copy of this decoder with fresh Wings learners (`initializeWings`): it computes exactly
    /// what this one computes until the learners train.
    public func attachingWings(_ wings: WingsConfig, seed: UInt64) -> DecoderModel {
        var c = config
        c.wings = wings
        let grown = DecoderModel(config: c)
        grown.initializeWings(seed: seed)
        for (i, p) in parameters.table.enumerated() where grown.parameters.contains(p.name) && !p.name.contains(".wings.") {
            grown.parameters.value(p.name).copy(from: parameters.value(at: i))
        }
        return grown
    }
}

extension MultimodalModel {
    /// A copy with fresh Wings learners on the decoder (tower and projector copied).
    public func attachingWings(_ wings: WingsConfig, seed: UInt64) -> MultimodalModel {
        var c = config
        c.textConfig.wings = wings
        let grown = MultimodalModel(config: c)
        grown.decoder.parameters.values.all.copy(from: decoder.attachingWings(wings, seed: seed).parameters.values.all)
        grown.encoder.parameters.values.all.copy(from: encoder.parameters.values.all)
        grown.projector.parameters.values.all.copy(from: projector.parameters.values.all)
        return grown
    }
}
