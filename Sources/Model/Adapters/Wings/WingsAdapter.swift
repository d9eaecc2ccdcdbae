import Tensor

/// Wings (Zhang et al., 2024) attached to a decoder: in each chosen layer, after the attention
/// residual and before the MLP's norm,
///
///     h'' = h' + w_v · VisualLearner(h', V) + w_t · TextualLearner(h', T)
///
/// V: the image tokens (the projector's outputs, spliced into the layer-0 embeddings), T: the
/// layer-0 embeddings at text positions; both learners are `LoRRA`, the weights come from
/// `WingsRouter`. Both learners read keys from the same layer-0 embeddings, with complementary
/// key masks (image rows / text rows, `WingsMasks`) and the causal mask.
///
/// Differences from the released reference code, on purpose (Sources/Train/Train.docc, "Methods"):
/// - each routed output is added to the residual stream once (the release adds it twice);
/// - the visual learner is masked: a query sees only image tokens at or before its position in
///   its own sequence, never padding, and rows that see no image (text-only samples) are not
///   routed: w = (0, 1), the textual learner alone (the release runs the visual learner unmasked);
/// - the router's input keeps its gradient into the main attention (the backward is exact).
///
/// Tensors: `model.layers.N.wings.{visual,textual}.{q,k,v,o}_proj.lora_{A,B}.weight`,
/// `model.layers.N.wings.router.{weight,bias}`.
public final class WingsAdapter: DecoderAdapter, @unchecked Sendable {
    /// The tensors of one chosen layer.
    struct LayerSlots {
        let visual: LoRRA.Slots
        let textual: LoRRA.Slots
        let routerWeight: ParameterSlot  // (2, L)
        let routerBias: ParameterSlot    // (2)

        var all: [ParameterSlot] { visual.all + textual.all + [routerWeight, routerBias] }
    }

    public let config: WingsConfig
    let decoder: DecoderConfig
    let layers: [Int: LayerSlots]
    /// The chosen layers, ascending (the order their tensors are declared in).
    let chosen: [Int]

    init(config: WingsConfig, decoder c: DecoderConfig, table: inout ParameterTableBuilder) {
        self.config = config
        decoder = c
        chosen = config.chosenLayers(of: c.numHiddenLayers)
        var layers: [Int: LayerSlots] = [:]
        for l in chosen {
            let p = "model.layers.\(l).wings."
            let visual = LoRRA.Slots(prefix: p + "visual.", hidden: c.hiddenSize, kvSize: c.kvSize, rank: config.rank, table: &table)
            let textual = LoRRA.Slots(prefix: p + "textual.", hidden: c.hiddenSize, kvSize: c.kvSize, rank: config.rank, table: &table)
            layers[l] = LayerSlots(visual: visual, textual: textual, routerWeight: table.add(p + "router.weight", [2, config.routerMaxKeys]),
                                   routerBias: table.add(p + "router.bias", [2]))
        }
        self.layers = layers
    }

    /// Every tensor's slot, in table order.
    var slots: [ParameterSlot] { chosen.flatMap { layers[$0]!.all } }

    public func summary(_ parameters: Parameters) -> String {
        let count = slots.reduce(0) { $0 + parameters.table[$1.index].count }
        return "wings: visual and textual learners of rank \(config.rank) and a router over \(config.routerMaxKeys) keys on layers "
            + "\(chosen.map(String.init).joined(separator: ",")) (\(count) parameters, B = 0: no change yet)"
    }

    /// Fresh learners: A and the router's weight from a truncated N(0, std²), B and the router's
    /// bias 0, so the decoder computes exactly what it computed without them.
    public func initialize(_ parameters: Parameters, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let drawn = Set(chosen.flatMap { l in
            let s = layers[l]!
            return [s.visual.qA, s.visual.kA, s.visual.vA, s.visual.oA, s.textual.qA, s.textual.kA, s.textual.vA, s.textual.oA, s.routerWeight]
        })
        for slot in slots {
            if drawn.contains(slot) { rng.fillTruncatedNormal(parameters.value(slot), std: config.initializerRange) } else { parameters.value(slot).zero() }
        }
    }

    public func makeState(_ storage: AdapterStorage) -> any AdapterState { WingsState(adapter: self, storage: storage) }

    /// The learners' attention over the pass's keys: causal, from `start`, over `keyStride` positions per sequence.
    func learnerShape(_ pass: AdapterPass) -> AttentionShape {
        AttentionShape(batch: pass.batch, queries: pass.rows, keys: pass.start + pass.rows, heads: decoder.numAttentionHeads,
                       kvHeads: decoder.numKeyValueHeads, headSize: decoder.headSize, causal: true, queryOffset: pass.start,
                       keyRowsPerSequence: pass.keyStride, maskStride: pass.keyStride)
    }

    // MARK: Forward

    /// Records the new rows' image positions, derives the masks, and appends every chosen layer's
    /// learner keys and values for the new rows (from their layer-0 embeddings). A training
    /// batch without images skips the visual learner; a cache keeps its keys for later queries.
    public func beginForward(_ pass: AdapterPass, fromLayer first: Int) {
        let st = pass.state as! WingsState, B = pass.batch, n = pass.rows, S = pass.keyStride, N = B * n
        for b in 0..<B { (st.imagePositions + b * S + pass.start).update(from: pass.imageRows + b * n, count: n) }
        st.anyRouted = st.masks.update(batch: B, start: pass.start, rows: n, stride: S, keyMask: pass.keyMask, imagePositions: st.imagePositions)
        let x0 = pass.inputEmbeddings.reshaped([N, decoder.hiddenSize]), KC = decoder.kvSize
        for l in chosen where l >= first {
            let s = layers[l]!, layer = st.layers[l]!
            // The visual learner's keys: for a batch with images, or a cache (later rows may see one).
            let learners = st.anyRouted || st.isCache ? [(s.visual, layer.visual), (s.textual, layer.textual)] : [(s.textual, layer.textual)]
            for (slots, learner) in learners {
                let w = learner.work.rows(N)
                LoRRA.keysValues(pass.parameters, slots, xkv: x0, ak: w.ak, k: w.k, av: w.av, v: w.v, heads: decoder.numAttentionHeads)
                guard learner.keys.data != w.k.data else { continue }  // training: the batch's own rows are the keys
                for b in 0..<B {
                    (learner.keys.data + (b * S + pass.start) * KC).update(from: w.k.data + b * n * KC, count: n * KC)
                    (learner.values.data + (b * S + pass.start) * KC).update(from: w.v.data + b * n * KC, count: n * KC)
                }
            }
        }
    }

    /// h (holding h') ← h'' = h' + w_t·O_t + w_v·O_v, the learners attending over the pass's keys.
    public func afterAttention(layer l: Int, h: Tensor, attention: AttentionProbabilities, _ pass: AdapterPass) {
        guard let s = layers[l] else { return }
        let st = pass.state as! WingsState, layer = st.layers[l]!, N = pass.batch * pass.rows
        let hPrime = layer.hPrime.rows(0..<N), weights = layer.weights.rows(0..<N)
        hPrime.copy(from: h)
        WingsRouter.forward(weights: weights, logits: layer.routerLogits.rows(0..<N), input: layer.routerInput.rows(0..<N), att: attention.probabilities,
                            shape: attention.shape, keyOffset: pass.keyOffset, routed: st.masks.routed,
                            w: pass.parameters.value(s.routerWeight), b: pass.parameters.value(s.routerBias))
        let shape = learnerShape(pass)
        let textual = layer.textual.work.rows(N), visual = layer.visual.work.rows(N)
        if st.anyRouted {
            LoRRA.attend(pass.parameters, s.visual, xq: hPrime, keys: layer.visual.keys, values: layer.visual.values,
                         keyMask: st.masks.imageKeys, shape: shape, visual)
        }
        LoRRA.attend(pass.parameters, s.textual, xq: hPrime, keys: layer.textual.keys, values: layer.textual.values,
                     keyMask: st.masks.textKeys, shape: shape, textual)
        WingsMix.forward(into: h, weights: weights, visual: st.anyRouted ? visual.out : nil, textual: textual.out)
    }

    // MARK: Backward

    public func beginBackward(_ pass: AdapterBackwardPass) {
        (pass.state as! WingsState).scratch!.dembeddings.zero()
    }

    /// From dh'' in `dh`: adds the learners' and router's gradients, leaves dh' in `dh`, returns
    /// the router's gradient into the main attention's probabilities, and adds the gradient into
    /// the layer-0 embeddings to the scratch (`endBackward` hands it over).
    public func afterAttentionBackward(layer l: Int, dh: Tensor, _ pass: AdapterBackwardPass) -> Tensor? {
        guard let s = layers[l] else { return nil }
        let st = pass.state as! WingsState, layer = st.layers[l]!, ws = st.scratch!, p = pass.parameters
        let x0 = pass.forward.inputEmbeddings.reshaped([dh.rowCount, decoder.hiddenSize]), images = st.anyRouted
        let shape = learnerShape(pass.forward), d = pass.scratch
        // h'' = h' + w_v O_v + w_t O_t:  dO_v = w_v dh'',  dw_v = ⟨O_v, dh''⟩  (and t)
        WingsMix.backward(dh: dh, weights: layer.weights, visual: images ? layer.visual.work.out : nil, textual: layer.textual.work.out,
                          dvisual: ws.doutVisual, dtextual: ws.doutTextual, dweights: ws.dweights)
        WingsRouter.backward(dinput: ws.drouterInput, dW: pass.gradient(s.routerWeight), db: pass.gradient(s.routerBias),
                             dweights: ws.dweights, weights: layer.weights, input: layer.routerInput, routed: st.masks.routed,
                             w: p.value(s.routerWeight))
        let scratch = LoRRA.Scratch(dq: d.dq, dk: d.dk, dv: d.dv, datt: d.datt, dy: d.dattY, dr: ws.dr)
        if images {
            LoRRA.backward(p, s.visual, parameterGradients: pass.parameterGradients, dout: ws.doutVisual, xq: layer.hPrime, xkv: x0,
                           shape: shape, layer.visual.work, scratch, dxq: dh, dxkv: ws.dembeddings)
        }
        LoRRA.backward(p, s.textual, parameterGradients: pass.parameterGradients, dout: ws.doutTextual, xq: layer.hPrime, xkv: x0,
                       shape: shape, layer.textual.work, scratch, dxq: dh, dxkv: ws.dembeddings)
        return ws.drouterInput
    }

    /// The learners read the layer-0 embeddings as keys and values in every layer: their gradient joins the input's.
    public func endBackward(inputGradient: Tensor, _ pass: AdapterBackwardPass) {
        let ws = (pass.state as! WingsState).scratch!
        Elementwise.add(inputGradient, inputGradient, ws.dembeddings)
    }
}
