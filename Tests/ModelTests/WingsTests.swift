import Model
import Tensor
import TestSupport
import Testing

/// Wings: finite-difference checks of the learner, the router and a decoder with learners
/// attached (every new tensor and the layer input), and the "a fresh learner adds exactly 0" property.
struct WingsTests {
    /// LoRRA with grouped KV heads, a causal mask and masked keys: dX_q, dX_kv and all eight matrices.
    @Test func learnerGradients() {
        let B = 2, T = 5, NH = 4, NKV = 2, D = 3, C = NH * D, KC = NKV * D, r = 2, N = B * T
        let shape = AttentionShape(batch: B, queries: T, keys: T, heads: NH, kvHeads: NKV, headSize: D, causal: true)
        let s = TestTensors(seed: 5)
        var table = ParameterTableBuilder()
        let slots = LoRRA.Slots(prefix: "", hidden: C, kvSize: KC, rank: r, table: &table)
        let p = Parameters(table.table)
        p.setTrainable(matching: ["*"])
        for slot in slots.all { p.value(slot).copy(from: s.make(p.table[slot.index].shape, scale: 0.5)) }
        let ws = slots.all.map { p.value($0) }, gs = slots.all.map { p.gradient($0)! }
        _ = ws.map { s.zeros($0.shape) }  // the draws the former gradient tensors took: the inputs below stay as they were
        let xq = s.make([N, C]), xkv = s.make([N, C]), dout = s.make([N, C])
        // Sequence 0 sees keys 1 and 3 only (rows 0 sees none: it must output 0); sequence 1 all but its last.
        let mask: [Int32] = [0, 1, 0, 1, 0, 1, 1, 1, 1, 0]
        let buffers = LoRRA.Buffers(rows: N, batch: B, queries: T, keys: T, heads: NH, hidden: C, kvSize: KC, rank: r) { s.zeros($0) }
        let scratch = LoRRA.Scratch(dq: s.zeros([N, C]), dk: s.zeros([N, KC]), dv: s.zeros([N, KC]), datt: s.zeros([B, NH, T, T]),
                                    dy: s.zeros([N, C]), dr: s.zeros([N, r]))
        let dxq = s.zeros([N, C]), dxkv = s.zeros([N, C])
        mask.withUnsafeBufferPointer { m in
            let loss = { () -> Double in
                LoRRA.forward(p, slots, xq: xq, xkv: xkv, keyMask: m.baseAddress, shape: shape, buffers)
                return GradientCheck.dot(buffers.out, dout)
            }
            _ = loss()
            #expect((0..<C).allSatisfy { buffers.out[$0] == 0 }, "a query with no visible key outputs 0")
            LoRRA.backward(p, slots, dout: dout, xq: xq, xkv: xkv, shape: shape, buffers, scratch, dxq: dxq, dxkv: dxkv)
            for (name, x, dx) in [("X_q", xq, dxq), ("X_kv", xkv, dxkv)] {
                let e = GradientCheck.relativeError(of: x, analytic: dx, eps: 1e-2, loss: loss)
                #expect(e < 1e-2, "\(name): relative error \(e)")
            }
            for (i, name) in LoRRA.names.enumerated() {
                let e = GradientCheck.relativeError(of: ws[i], analytic: gs[i], eps: 1e-2, loss: loss)
                #expect(e < 1e-2, "\(name): relative error \(e)")
            }
        }
    }

    /// The router: dW, db and the gradient into the attention probabilities, with rows truncated
    /// (L < S) and zero-padded (L > S), left padding skipped, and unrouted rows fixed at (0, 1).
    @Test(arguments: [3, 7]) func routerGradients(maxKeys L: Int) {
        let B = 2, T = 5, NH = 3, N = B * T
        let shape = AttentionShape(batch: B, queries: T, keys: T, heads: NH, kvHeads: NH, headSize: 2, causal: true)
        let s = TestTensors(seed: UInt64(L))
        let att = s.make([B, NH, T, T], scale: 0.5, offset: 0.5)
        let w = s.make([2, L]), b = s.make([2]), dW = s.zeros([2, L]), db = s.zeros([2])
        let input = s.zeros([N, L]), logits = s.zeros([N, 2]), weights = s.zeros([N, 2])
        let dweights = s.zeros([N, 2]), dinput = s.zeros([N, L]), probe = s.make([N, 2])
        let routed: [UInt8] = [0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
        let offsets = [0, 1]
        routed.withUnsafeBufferPointer { routed in
            let loss = { () -> Double in
                WingsRouter.forward(weights: weights, logits: logits, input: input, att: att, shape: shape, keyOffset: offsets,
                                    routed: routed.baseAddress!, w: w, b: b)
                return GradientCheck.dot(weights, probe)
            }
            _ = loss()
            #expect(weights[0] == 0 && weights[1] == 1, "an unrouted row uses the textual learner alone")
            dweights.copy(from: probe)
            WingsRouter.backward(dinput: dinput, dW: dW, db: db, dweights: dweights, weights: weights, input: input,
                                 routed: routed.baseAddress!, w: w)
            for (name, x, dx) in [("W", w, dW), ("b", b, db)] {
                let e = GradientCheck.relativeError(of: x, analytic: dx, eps: 1e-2, loss: loss)
                #expect(e < 1e-2, "router \(name): relative error \(e)")
            }
            // d loss / d P[b, h, t, o + j] = da[b·T + t, j] for every head (and 0 outside the window)
            let datt = s.zeros(att.shape)
            for bi in 0..<B { for h in 0..<NH { for t in 0..<T {
                for j in 0..<min(L, T - offsets[bi]) { datt[((bi * NH + h) * T + t) * T + offsets[bi] + j] = dinput[(bi * T + t) * L + j] }
            } } }
            let e = GradientCheck.relativeError(of: att, analytic: datt, eps: 1e-2, loss: loss)
            #expect(e < 1e-2, "attention probabilities: relative error \(e)")
        }
    }

    static let config: DecoderConfig = {
        var c = DecoderConfig(hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, intermediateSize: 12,
                              vocabSize: 11, ropeTheta: 50, maxPositionEmbeddings: 16)
        c.wings = WingsConfig(rank: 2, routerMaxKeys: 4)
        return c
    }()

    /// A batch with an image in sequence 0 (rows 1–3 replaced by visual vectors) and a text-only
    /// sequence 1 with right padding.
    static func batch(_ acts: DecoderActivations, decoder: DecoderModel, rng: inout SeededGenerator) {
        let B = acts.batch, T = acts.sequence, V = decoder.config.vocabSize, C = decoder.config.hiddenSize
        let tokens = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(V)) }
        var targets = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(V)) }
        var mask = [Int32](repeating: 1, count: B * T)
        mask[B * T - 1] = 0; targets[B * T - 1] = -100
        for row in 1...3 { targets[row] = -100 }
        acts.setBatch(tokens: tokens, targets: targets, attentionMask: mask)
        decoder.embed(acts)
        for row in 1...3 {
            acts.replacedRows[row] = 1
            for c in 0..<C { acts.embeddings[row * C + c] = rng.normal() }
        }
    }

    /// A decoder layer with learners attached: the layer input (embeddings, image rows included)
    /// and every tensor, new and old, against central differences.
    @Test func decoderWithLearnersGradients() {
        let decoder = DecoderModel(config: Self.config)
        var rng = SeededGenerator(seed: 11)
        for i in 0..<decoder.parameters.table.count {
            let t = decoder.parameters.value(at: i)
            let isNorm = decoder.parameters.table[i].name.hasSuffix("norm.weight")
            for j in 0..<t.count { t[j] = isNorm ? 1 + 0.3 * rng.normal() : 0.4 * rng.normal() }
        }
        let names = decoder.parameters.setTrainable(matching: ["*"])
        #expect(names.filter { $0.contains(".wings.") }.count == 2 * (16 + 2))
        let acts = DecoderActivations(config: Self.config, batch: 2, sequence: 6)
        Self.batch(acts, decoder: decoder, rng: &rng)
        decoder.parameters.zeroGradients()
        decoder.forwardLayers(acts)
        _ = decoder.loss(acts)
        decoder.backward(acts)
        let storage = TestTensors()
        let inputGradient = storage.zeros(acts.inputGradient.shape)
        inputGradient.copy(from: acts.inputGradient)
        let loss = { () -> Double in
            decoder.forwardLayers(acts)
            return Double(decoder.loss(acts).loss)
        }
        let saved = storage.zeros(acts.embeddings.shape)
        saved.copy(from: acts.embeddings)
        let e = GradientCheck.relativeError(of: acts.embeddings, analytic: inputGradient, eps: 1e-2, loss: loss)
        #expect(e < 1e-2, "layer input: relative error \(e)")
        for (i, p) in decoder.parameters.table.enumerated() where p.name != "model.embed_tokens.weight" {
            let e = GradientCheck.relativeError(of: decoder.parameters.value(at: i), analytic: decoder.parameters.gradient(at: i)!,
                                                eps: 1e-2, maxElements: 40, loss: loss)
            #expect(e < 1e-2, "\(p.name): relative error \(e)")
        }
        withExtendedLifetime(storage) {}
    }

    /// B = 0: a decoder with fresh learners computes the same logits as without them, in
    /// training (with an image in the batch) and in cached inference.
    @Test func freshLearnersChangeNothing() {
        var plainConfig = Self.config
        plainConfig.wings = nil
        let plain = DecoderModel(config: plainConfig)
        plain.initialize(seed: 9, std: 0.3)
        let wings = plain.attaching(Self.config.wings!, seed: 4)
        #expect(wings.parameters.table.count == plain.parameters.table.count + 2 * 18)
        var rng = SeededGenerator(seed: 2)
        let a = DecoderActivations(config: plainConfig, batch: 2, sequence: 6)
        let b = DecoderActivations(config: Self.config, batch: 2, sequence: 6)
        Self.batch(a, decoder: plain, rng: &rng)
        rng = SeededGenerator(seed: 2)
        Self.batch(b, decoder: wings, rng: &rng)
        plain.forwardLayers(a)
        wings.forwardLayers(b)
        let difference = (0..<a.logits.count).map { abs(a.logits[$0] - b.logits[$0]) }.max()!
        #expect(difference == 0, "logits differ by \(difference)")

        let tokens: [Int32] = [1, 5, 7, 2, 9, 3]
        let c1 = KVCache(config: plainConfig, batch: 1, capacity: 8), c2 = KVCache(config: Self.config, batch: 1, capacity: 8)
        let l1 = plain.forward(newTokens: tokens, cache: c1).array, l2 = wings.forward(newTokens: tokens, cache: c2).array
        #expect(l1 == l2)
    }

    /// Trained learners (B ≠ 0): cached inference, fed in chunks with an image, computes the
    /// logits of the training forward, so evaluation scores what training trained.
    @Test func cachedInferenceMatchesTraining() {
        let decoder = DecoderModel(config: Self.config)
        decoder.initialize(seed: 21, std: 0.3)
        var rng = SeededGenerator(seed: 8)
        for (i, p) in decoder.parameters.table.enumerated() where p.name.contains(".wings.") {
            let t = decoder.parameters.value(at: i)
            for j in 0..<t.count { t[j] = 0.4 * rng.normal() }
        }
        let T = 6, C = Self.config.hiddenSize, V = Self.config.vocabSize
        let acts = DecoderActivations(config: Self.config, batch: 2, sequence: T)
        Self.batch(acts, decoder: decoder, rng: &rng)
        decoder.forwardLayers(acts)
        let tokens = (0..<T).map { acts.tokens[$0] }
        let visual = VisualTokens(tokens: acts.embeddings.reshaped([2 * T, C]), placement: (1...3).map { (from: $0, to: $0) })
        let cache = KVCache(config: Self.config, batch: 1, capacity: 8, chunk: 4)
        let first = decoder.forward(newTokens: Array(tokens[0..<4]), cache: cache, visual: visual).array
        let second = decoder.forward(newTokens: Array(tokens[4..<6]), cache: cache).array
        let cached = first + second
        let difference = (0..<(T * V)).map { abs(cached[$0] - acts.logits[$0]) }.max()!
        #expect(difference < 1e-4, "cached logits differ by \(difference)")
    }
}
