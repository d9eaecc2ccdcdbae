import Foundation
import Tensor

/// A CLIP/SigLIP vision transformer: patch embedding (as a GEMM over im2col patches), an
/// optional class token, learned position embeddings, (CLIP) a LayerNorm, then pre-LayerNorm
/// blocks:  h = x + out_proj(MHA(LN1(x))),  out = h + fc2(act(fc1(LN2(h)))), `act` the config's
/// `hidden_act` (OpenAI CLIP: quick_gelu; SigLIP: the tanh GELU). The final `post_layernorm`
/// (when the tower has one) applies only to ``pooledFeatures(_:)``.
///
/// Only the blocks up to the selected hidden state run (LLaVA takes the second-to-last).
/// Tensor names follow Hugging Face's vision towers under `prefix`.
/// Legend in kernels: B images, T positions, NP patches, P patch size, C hidden, I intermediate.
public final class VisionEncoder: @unchecked Sendable {
    public let config: VisionConfig
    public let parameters: Parameters
    public let prefix: String
    let layout: Layout
    /// Index into Hugging Face's `hidden_states` (0 = embeddings, i = after block i; negative counts from the end).
    public let selectLayer: Int
    /// Keep the class token in the features (`cls_patch`) or drop it (`patch`).
    public let keepClassToken: Bool

    /// The tower's parameter table and the slots of its tensors, declared once (Hugging Face names under `prefix`).
    struct Layout {
        /// One block's tensors.
        struct Block {
            let norm1Weight, norm1Bias, q, qBias, k, kBias, v, vBias, out, outBias: ParameterSlot
            let norm2Weight, norm2Bias, fc1, fc1Bias, fc2, fc2Bias: ParameterSlot
        }

        let table: [ParameterInfo]
        let patchWeight: ParameterSlot              // (C, 3, P, P)
        let patchBias: ParameterSlot?               // (C) SigLIP
        let classEmbedding: ParameterSlot?          // (C) CLIP
        let position: ParameterSlot                 // (positions, C)
        let preNormWeight, preNormBias: ParameterSlot?  // (C) CLIP's pre_layrnorm
        let blocks: [Block]
        let postNormWeight, postNormBias: ParameterSlot?  // (C) post_layernorm, when the tower has it

        init(_ c: VisionConfig, prefix p: String) {
            let C = c.hiddenSize, I = c.intermediateSize, P = c.patchSize, clip = c.hasClassToken
            var t = ParameterTableBuilder()
            patchWeight = t.add(p + "embeddings.patch_embedding.weight", [C, 3, P, P])
            patchBias = t.add(p + "embeddings.patch_embedding.bias", [C], if: !clip)
            classEmbedding = t.add(p + "embeddings.class_embedding", [C], if: clip)
            position = t.add(p + "embeddings.position_embedding.weight", [c.positions, C])
            preNormWeight = t.add(p + "pre_layrnorm.weight", [C], if: clip)
            preNormBias = t.add(p + "pre_layrnorm.bias", [C], if: clip)
            blocks = (0..<c.numHiddenLayers).map { l in
                let b = p + "encoder.layers.\(l)."
                let n1w = t.add(b + "layer_norm1.weight", [C]), n1b = t.add(b + "layer_norm1.bias", [C])
                let q = t.add(b + "self_attn.q_proj.weight", [C, C]), qb = t.add(b + "self_attn.q_proj.bias", [C])
                let k = t.add(b + "self_attn.k_proj.weight", [C, C]), kb = t.add(b + "self_attn.k_proj.bias", [C])
                let v = t.add(b + "self_attn.v_proj.weight", [C, C]), vb = t.add(b + "self_attn.v_proj.bias", [C])
                let o = t.add(b + "self_attn.out_proj.weight", [C, C]), ob = t.add(b + "self_attn.out_proj.bias", [C])
                let n2w = t.add(b + "layer_norm2.weight", [C]), n2b = t.add(b + "layer_norm2.bias", [C])
                let f1 = t.add(b + "mlp.fc1.weight", [I, C]), f1b = t.add(b + "mlp.fc1.bias", [I])
                let f2 = t.add(b + "mlp.fc2.weight", [C, I]), f2b = t.add(b + "mlp.fc2.bias", [C])
                return Block(norm1Weight: n1w, norm1Bias: n1b, q: q, qBias: qb, k: k, kBias: kb, v: v, vBias: vb, out: o, outBias: ob,
                             norm2Weight: n2w, norm2Bias: n2b, fc1: f1, fc1Bias: f1b, fc2: f2, fc2Bias: f2b)
            }
            postNormWeight = t.add(p + "post_layernorm.weight", [C], if: c.postLayerNorm)
            postNormBias = t.add(p + "post_layernorm.bias", [C], if: c.postLayerNorm)
            table = t.table
        }
    }

    /// Where a multimodal checkpoint keeps the tower (LLaVA's `vision_tower.vision_model.`).
    public static let defaultPrefix = "vision_tower.vision_model."
    /// Tensors of Hugging Face towers (under the prefix) that are not read: SigLIP's
    /// attention-pooling head (`vision_use_head`), which LLaVA-style models never call.
    public static let unusedTensors = ["head.*"]

    public init(config: VisionConfig, selectLayer: Int = -2, keepClassToken: Bool = false, prefix: String = defaultPrefix) {
        self.config = config
        self.prefix = prefix
        self.selectLayer = selectLayer
        self.keepClassToken = keepClassToken && config.hasClassToken
        layout = Layout(config, prefix: prefix)
        parameters = Parameters(layout.table)
        precondition(blockCount >= 0 && blockCount <= config.numHiddenLayers, "select layer \(selectLayer) outside 0...\(config.numHiddenLayers)")
    }

    /// Blocks that run: the selected hidden state's index.
    public var blockCount: Int { selectLayer >= 0 ? selectLayer : config.numHiddenLayers + 1 + selectLayer }
    /// Feature vectors per image.
    public var featureCount: Int { config.patchCount + (keepClassToken ? 1 : 0) }

    public func makeActivations(batch: Int) -> VisionActivations { VisionActivations(encoder: self, batch: batch) }

    /// CLIP's initialisation, scaled down: matrices N(0, 0.02²), LayerNorm weight 1, biases 0,
    /// class and position embeddings N(0, 0.02²).
    public func initialize(seed: UInt64, std: Float = 0.02) {
        var rng = SeededGenerator(seed: seed)
        for (i, p) in parameters.table.enumerated() {
            let t = parameters.value(at: i)
            if p.shape.count >= 2 || p.name.hasSuffix("class_embedding") {
                for j in 0..<t.count { t[j] = rng.normal() * std }
            } else {
                t.fill(p.name.contains("norm") && p.name.hasSuffix("weight") ? 1 : 0)
            }
        }
    }

    private func w(_ s: ParameterSlot) -> Tensor { parameters.value(s) }
    private func w(_ s: ParameterSlot?) -> Tensor? { parameters.value(s) }
    private func g(_ s: ParameterSlot?) -> Tensor? { parameters.gradient(s) }

    // MARK: - Forward

    /// Encodes `acts.pixels` into `acts.features`.
    public func forward(_ acts: VisionActivations) {
        let c = config, B = acts.batch, C = c.hiddenSize, T = c.positions, NP = c.patchCount, P = c.patchSize, S = c.imageSize
        let side = c.patchesPerSide, cls = c.hasClassToken ? 1 : 0
        // im2col: patch row (b, py, px) holds pixels in (channel, ky, kx) order, as the conv weight is laid out.
        for b in 0..<B {
            for py in 0..<side {
                for px in 0..<side {
                    let row = acts.patches.data + ((b * NP) + py * side + px) * 3 * P * P
                    for ch in 0..<3 {
                        for ky in 0..<P {
                            let src = acts.pixels.data + ((b * 3 + ch) * S + py * P + ky) * S + px * P
                            (row + (ch * P + ky) * P).update(from: src, count: P)
                        }
                    }
                }
            }
        }
        let patchWeight = w(layout.patchWeight).reshaped([C, 3 * P * P])
        Linear.forward(y: acts.patchOut, x: acts.patches, w: patchWeight,
                       b: w(layout.patchBias))
        // embeddings[b, t] = (t == 0 && CLIP ? class : patch[t − cls]) + position[t]
        let position = w(layout.position)
        for b in 0..<B {
            for t in 0..<T {
                let dst = acts.embeddings.data + (b * T + t) * C
                let src = t < cls ? w(layout.classEmbedding)!.data : acts.patchOut.data + (b * NP + t - cls) * C
                for i in 0..<C { dst[i] = src[i] + position.data[t * C + i] }
            }
        }
        if c.hasClassToken {
            LayerNorm.forward(y: acts.x0, mean: acts.preMean, rstd: acts.preRstd, x: acts.embeddings,
                              w: w(layout.preNormWeight)!, b: w(layout.preNormBias)!, eps: c.layerNormEps)
        } else {
            acts.x0.copy(from: acts.embeddings)
        }
        let shape = AttentionShape(batch: B, queries: T, keys: T, heads: c.numAttentionHeads, kvHeads: c.numAttentionHeads,
                                   headSize: c.headSize, causal: false)
        var x = acts.x0
        for l in 0..<blockCount {
            let a = acts.blocks[l], s = layout.blocks[l]
            LayerNorm.forward(y: a.ln1, mean: a.mean1, rstd: a.rstd1, x: x, w: w(s.norm1Weight), b: w(s.norm1Bias), eps: c.layerNormEps)
            Linear.forward(y: a.q, x: a.ln1, w: w(s.q), b: w(s.qBias))
            Linear.forward(y: a.k, x: a.ln1, w: w(s.k), b: w(s.kBias))
            Linear.forward(y: a.v, x: a.ln1, w: w(s.v), b: w(s.vBias))
            Attention.forward(y: a.attY, att: a.att, q: a.q, k: a.k, v: a.v, keyMask: nil, shape: shape)
            Linear.forward(y: a.h, x: a.attY, w: w(s.out), b: w(s.outBias))
            Elementwise.add(a.h, a.h, x)
            LayerNorm.forward(y: a.ln2, mean: a.mean2, rstd: a.rstd2, x: a.h, w: w(s.norm2Weight), b: w(s.norm2Bias), eps: c.layerNormEps)
            Linear.forward(y: a.fc1, x: a.ln2, w: w(s.fc1), b: w(s.fc1Bias))
            c.hiddenAct.forward(y: a.act, x: a.fc1)
            Linear.forward(y: a.out, x: a.act, w: w(s.fc2), b: w(s.fc2Bias))
            Elementwise.add(a.out, a.out, a.h)
            x = a.out
        }
        // Feature selection: drop the class token unless `cls_patch`.
        let skip = cls - (keepClassToken ? 1 : 0), F = featureCount
        for b in 0..<B { (acts.features.data + b * F * C).update(from: x.data + (b * T + skip) * C, count: F * C) }
    }

    // MARK: - The tower's own outputs

    /// Hugging Face's `last_hidden_state` of the last forward, (B, T, C): the last block's output,
    /// through `post_layernorm` for SigLIP (CLIP's is the raw block output). Needs every block to
    /// have run (`vision_feature_layer` −1 or L).
    public func lastHiddenState(_ acts: VisionActivations) -> [Float] {
        let c = config, N = acts.batch * c.positions, C = c.hiddenSize
        precondition(blockCount == c.numHiddenLayers, "lastHiddenState needs every block to run")
        let x = blockCount == 0 ? acts.x0 : acts.blocks[blockCount - 1].out
        guard !c.hasClassToken, c.postLayerNorm else { return Array(UnsafeBufferPointer(start: x.data, count: N * C)) }
        return postNormed(x, rows: N)
    }

    /// CLIP's `pooler_output` of the last forward, (B, C): the class token of the last block's
    /// output through `post_layernorm`. nil for a tower without a class token or `post_layernorm`.
    public func pooledOutput(_ acts: VisionActivations) -> [Float]? {
        let c = config, B = acts.batch, T = c.positions, C = c.hiddenSize
        precondition(blockCount == c.numHiddenLayers, "pooledOutput needs every block to run")
        guard c.hasClassToken, c.postLayerNorm else { return nil }
        let x = blockCount == 0 ? acts.x0 : acts.blocks[blockCount - 1].out
        let (arena, classTokens) = Arena.build { allocate in allocate([B, C]) }
        for b in 0..<B { (classTokens.data + b * C).update(from: x.data + b * T * C, count: C) }
        return withExtendedLifetime(arena) { postNormed(classTokens, rows: B) }
    }

    /// `post_layernorm` of the first `rows` rows of `x`.
    private func postNormed(_ x: Tensor, rows N: Int) -> [Float] {
        let C = config.hiddenSize
        let (arena, (y, mean, rstd)) = Arena.build { allocate in (allocate([N, C]), allocate([N]), allocate([N])) }
        LayerNorm.forward(y: y, mean: mean, rstd: rstd, x: Tensor(x.data, shape: [N, C]), w: w(layout.postNormWeight)!,
                          b: w(layout.postNormBias)!, eps: config.layerNormEps)
        return withExtendedLifetime(arena) { y.array }
    }

    // MARK: - Backward

    /// Backpropagates `acts.featuresGradient` into the gradients of the trainable parameters
    /// (added into). The gradient to the pixels is not computed.
    public func backward(_ acts: VisionActivations) {
        let d = acts.scratch
        let c = config, B = acts.batch, C = c.hiddenSize, T = c.positions, NP = c.patchCount, P = c.patchSize
        let cls = c.hasClassToken ? 1 : 0, skip = cls - (keepClassToken ? 1 : 0), F = featureCount
        let shape = AttentionShape(batch: B, queries: T, keys: T, heads: c.numAttentionHeads, kvHeads: c.numAttentionHeads,
                                   headSize: c.headSize, causal: false)
        // features = x_k[:, skip...]: the dropped class token gets no gradient.
        d.dres.zero()
        for b in 0..<B { (d.dres.data + (b * T + skip) * C).update(from: acts.featuresGradient.data + b * F * C, count: F * C) }
        for l in stride(from: blockCount - 1, through: 0, by: -1) {
            let a = acts.blocks[l], s = layout.blocks[l], x = l == 0 ? acts.x0 : acts.blocks[l - 1].out
            // out = h + fc2(act(fc1(ln2)))
            d.dact.zero()
            Linear.backward(dx: d.dact, dw: g(s.fc2), db: g(s.fc2Bias), dy: d.dres, x: a.act, w: w(s.fc2))
            d.dfc1.zero()
            c.hiddenAct.backward(dx: d.dfc1, dy: d.dact, x: a.fc1)
            d.dln.zero()
            Linear.backward(dx: d.dln, dw: g(s.fc1), db: g(s.fc1Bias), dy: d.dfc1, x: a.ln2, w: w(s.fc1))
            LayerNorm.backward(dx: d.dres, dw: g(s.norm2Weight), db: g(s.norm2Bias), dy: d.dln, x: a.h,
                               w: w(s.norm2Weight), mean: a.mean2, rstd: a.rstd2)
            // h = x + out_proj(Attn(q, k, v))
            d.dattY.zero()
            Linear.backward(dx: d.dattY, dw: g(s.out), db: g(s.outBias), dy: d.dres, x: a.attY, w: w(s.out))
            d.dq.zero(); d.dk.zero(); d.dv.zero()
            Attention.backward(dq: d.dq, dk: d.dk, dv: d.dv, datt: d.datt, dy: d.dattY, att: a.att, q: a.q, k: a.k, v: a.v, shape: shape)
            d.dln.zero()
            Linear.backward(dx: d.dln, dw: g(s.q), db: g(s.qBias), dy: d.dq, x: a.ln1, w: w(s.q))
            Linear.backward(dx: d.dln, dw: g(s.k), db: g(s.kBias), dy: d.dk, x: a.ln1, w: w(s.k))
            Linear.backward(dx: d.dln, dw: g(s.v), db: g(s.vBias), dy: d.dv, x: a.ln1, w: w(s.v))
            LayerNorm.backward(dx: d.dres, dw: g(s.norm1Weight), db: g(s.norm1Bias), dy: d.dln, x: x,
                               w: w(s.norm1Weight), mean: a.mean1, rstd: a.rstd1)
        }
        // x0 = preLN(embeddings) (CLIP) or embeddings: dembeddings into dln.
        let dembeddings = d.dln
        if c.hasClassToken {
            dembeddings.zero()
            LayerNorm.backward(dx: dembeddings, dw: g(layout.preNormWeight), db: g(layout.preNormBias), dy: d.dres, x: acts.embeddings,
                               w: w(layout.preNormWeight)!, mean: acts.preMean, rstd: acts.preRstd)
        } else {
            dembeddings.copy(from: d.dres)
        }
        // embeddings = [class | patches] + positions
        if let gpos = g(layout.position) {
            for b in 0..<B { for i in 0..<(T * C) { gpos.data[i] += dembeddings.data[b * T * C + i] } }
        }
        if cls == 1, let gcls = g(layout.classEmbedding) {
            for b in 0..<B { for i in 0..<C { gcls.data[i] += dembeddings.data[b * T * C + i] } }
        }
        let gpw = g(layout.patchWeight), gpb = g(layout.patchBias)
        guard gpw != nil || gpb != nil else { return }
        // Gather the patch rows' gradients, then patchOut = patches · Wᵀ (+ b).
        let dpatch = d.dattY.rows(0..<(B * NP)).reshaped([B * NP, C])  // reuse scratch: B·NP ≤ B·T rows
        for b in 0..<B { (dpatch.data + b * NP * C).update(from: dembeddings.data + (b * T + cls) * C, count: NP * C) }
        Linear.backward(dx: nil, dw: gpw?.reshaped([C, 3 * P * P]), db: gpb, dy: dpatch, x: acts.patches,
                        w: w(layout.patchWeight).reshaped([C, 3 * P * P]))
    }
}
