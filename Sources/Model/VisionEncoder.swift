import Foundation
import Tensor

/// Buffers of one ViT block for N = B·T rows (T positions per image).
struct VisionBlockBuffers {
    let ln1: Tensor, mean1: Tensor, rstd1: Tensor   // (N, C), (N), (N)
    let q: Tensor, k: Tensor, v: Tensor             // (N, C)
    let att: Tensor                                 // (B, NH, T, T)
    let attY: Tensor                                // (N, C) before out_proj
    let h: Tensor                                   // (N, C) residual after attention
    let ln2: Tensor, mean2: Tensor, rstd2: Tensor   // (N, C), (N), (N)
    let fc1: Tensor                                 // (N, I) before GELU
    let act: Tensor                                 // (N, I) GELU(fc1)
    let out: Tensor                                 // (N, C) residual after the MLP

    init(rows N: Int, batch B: Int, positions T: Int, config c: VisionConfig, _ allocate: ([Int]) -> Tensor) {
        let C = c.hiddenSize, I = c.intermediateSize
        ln1 = allocate([N, C]); mean1 = allocate([N]); rstd1 = allocate([N])
        q = allocate([N, C]); k = allocate([N, C]); v = allocate([N, C])
        att = allocate([B, c.numAttentionHeads, T, T]); attY = allocate([N, C]); h = allocate([N, C])
        ln2 = allocate([N, C]); mean2 = allocate([N]); rstd2 = allocate([N])
        fc1 = allocate([N, I]); act = allocate([N, I]); out = allocate([N, C])
    }
}

/// Gradient scratch shared by all blocks during the backward pass.
struct VisionScratch {
    let dres: Tensor, dln: Tensor, dq: Tensor, dk: Tensor, dv: Tensor, dattY: Tensor  // (N, C)
    let datt: Tensor                                                                 // (B, NH, T, T)
    let dfc1: Tensor, dact: Tensor                                                   // (N, I)

    init(rows N: Int, batch B: Int, positions T: Int, config c: VisionConfig, _ allocate: ([Int]) -> Tensor) {
        let C = c.hiddenSize, I = c.intermediateSize
        dres = allocate([N, C]); dln = allocate([N, C]); dq = allocate([N, C]); dk = allocate([N, C]); dv = allocate([N, C])
        dattY = allocate([N, C]); datt = allocate([B, c.numAttentionHeads, T, T]); dfc1 = allocate([N, I]); dact = allocate([N, I])
    }
}

/// Everything a forward/backward pass of the vision encoder keeps for B images, in one arena.
public final class VisionActivations: @unchecked Sendable {
    public let batch: Int
    public let arena: Arena
    /// (B, 3, S, S) preprocessed pixels; fill before `forward`.
    public let pixels: Tensor
    let patches: Tensor                   // (B·NP, 3·P·P) im2col of the pixels
    let patchOut: Tensor                  // (B·NP, C) patch embeddings
    let embeddings: Tensor                // (B·T, C) class token + patches + positions
    let preMean: Tensor, preRstd: Tensor  // (B·T) pre-LayerNorm statistics (CLIP)
    let x0: Tensor                        // (B·T, C) input of block 0
    let blocks: [VisionBlockBuffers]
    /// (B, F, C) selected features: the output of the selected block, CLS dropped for `patch`.
    public let features: Tensor
    /// (B, F, C) gradient of the features; fill before `backward`.
    public let featuresGradient: Tensor
    let scratch: VisionScratch

    init(encoder e: VisionEncoder, batch B: Int) {
        let c = e.config, C = c.hiddenSize, T = c.positions, N = B * T, NP = c.patchCount, P = c.patchSize
        batch = B
        typealias Layout = (pixels: Tensor, patches: Tensor, patchOut: Tensor, embeddings: Tensor, preMean: Tensor, preRstd: Tensor,
                            x0: Tensor, blocks: [VisionBlockBuffers], features: Tensor, featuresGradient: Tensor, scratch: VisionScratch)
        let (arena, l): (Arena, Layout) = Arena.build { allocate in
            (allocate([B, 3, c.imageSize, c.imageSize]), allocate([B * NP, 3 * P * P]), allocate([B * NP, C]), allocate([N, C]),
             allocate([N]), allocate([N]), allocate([N, C]),
             (0..<e.blockCount).map { _ in VisionBlockBuffers(rows: N, batch: B, positions: T, config: c, allocate) },
             allocate([B, e.featureCount, C]), allocate([B, e.featureCount, C]),
             VisionScratch(rows: N, batch: B, positions: T, config: c, allocate))
        }
        self.arena = arena
        (pixels, patches, patchOut, embeddings, preMean, preRstd, x0, blocks, features, featuresGradient, scratch) = l
    }
}

/// A CLIP/SigLIP vision transformer: patch embedding (as a GEMM over im2col patches), an
/// optional class token, learned position embeddings, (CLIP) a LayerNorm, then pre-LayerNorm
/// blocks:  h = x + out_proj(MHA(LN1(x))),  out = h + fc2(GELU(fc1(LN2(h)))).
///
/// Only the blocks up to the selected hidden state run (LLaVA takes the second-to-last).
/// Tensor names follow Hugging Face's vision towers under `prefix`.
/// Legend in kernels: B images, T positions, NP patches, P patch size, C hidden, I intermediate.
public final class VisionEncoder: @unchecked Sendable {
    public let config: VisionConfig
    public let parameters: Parameters
    public let prefix: String
    /// Index into Hugging Face's `hidden_states` (0 = embeddings, i = after block i; negative counts from the end).
    public let selectLayer: Int
    /// Keep the class token in the features (`cls_patch`) or drop it (`patch`).
    public let keepClassToken: Bool

    public static func parameterTable(_ c: VisionConfig, prefix p: String = "vision_tower.vision_model.") -> [ParameterInfo] {
        let C = c.hiddenSize, I = c.intermediateSize, P = c.patchSize
        var t = [ParameterInfo(name: p + "embeddings.patch_embedding.weight", shape: [C, 3, P, P])]
        if !c.hasClassToken { t.append(ParameterInfo(name: p + "embeddings.patch_embedding.bias", shape: [C])) }
        if c.hasClassToken { t.append(ParameterInfo(name: p + "embeddings.class_embedding", shape: [C])) }
        t.append(ParameterInfo(name: p + "embeddings.position_embedding.weight", shape: [c.positions, C]))
        if c.hasClassToken {
            t.append(ParameterInfo(name: p + "pre_layrnorm.weight", shape: [C]))
            t.append(ParameterInfo(name: p + "pre_layrnorm.bias", shape: [C]))
        }
        for l in 0..<c.numHiddenLayers {
            let b = p + "encoder.layers.\(l)."
            for (name, shape) in [("layer_norm1.weight", [C]), ("layer_norm1.bias", [C]),
                                  ("self_attn.q_proj.weight", [C, C]), ("self_attn.q_proj.bias", [C]),
                                  ("self_attn.k_proj.weight", [C, C]), ("self_attn.k_proj.bias", [C]),
                                  ("self_attn.v_proj.weight", [C, C]), ("self_attn.v_proj.bias", [C]),
                                  ("self_attn.out_proj.weight", [C, C]), ("self_attn.out_proj.bias", [C]),
                                  ("layer_norm2.weight", [C]), ("layer_norm2.bias", [C]),
                                  ("mlp.fc1.weight", [I, C]), ("mlp.fc1.bias", [I]), ("mlp.fc2.weight", [C, I]), ("mlp.fc2.bias", [C])] {
                t.append(ParameterInfo(name: b + name, shape: shape))
            }
        }
        return t
    }

    public init(config: VisionConfig, selectLayer: Int = -2, keepClassToken: Bool = false, prefix: String = "vision_tower.vision_model.") {
        self.config = config
        self.prefix = prefix
        self.selectLayer = selectLayer
        self.keepClassToken = keepClassToken && config.hasClassToken
        parameters = Parameters(Self.parameterTable(config, prefix: prefix))
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

    private func w(_ name: String) -> Tensor { parameters.value(prefix + name) }
    private func g(_ name: String) -> Tensor? { parameters.gradient(prefix + name) }
    private func block(_ l: Int, _ name: String) -> String { "encoder.layers.\(l).\(name)" }

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
        let patchWeight = w("embeddings.patch_embedding.weight").reshaped([C, 3 * P * P])
        Linear.forward(y: acts.patchOut, x: acts.patches, w: patchWeight,
                       b: c.hasClassToken ? nil : w("embeddings.patch_embedding.bias"))
        // embeddings[b, t] = (t == 0 && CLIP ? class : patch[t − cls]) + position[t]
        let position = w("embeddings.position_embedding.weight")
        for b in 0..<B {
            for t in 0..<T {
                let dst = acts.embeddings.data + (b * T + t) * C
                let src = t < cls ? w("embeddings.class_embedding").data : acts.patchOut.data + (b * NP + t - cls) * C
                for i in 0..<C { dst[i] = src[i] + position.data[t * C + i] }
            }
        }
        if c.hasClassToken {
            LayerNorm.forward(y: acts.x0, mean: acts.preMean, rstd: acts.preRstd, x: acts.embeddings,
                              w: w("pre_layrnorm.weight"), b: w("pre_layrnorm.bias"), eps: c.layerNormEps)
        } else {
            acts.x0.copy(from: acts.embeddings)
        }
        let shape = AttentionShape(batch: B, queries: T, keys: T, heads: c.numAttentionHeads, kvHeads: c.numAttentionHeads,
                                   headSize: c.headSize, causal: false)
        var x = acts.x0
        for l in 0..<blockCount {
            let a = acts.blocks[l]
            func p(_ n: String) -> Tensor { w(block(l, n)) }
            LayerNorm.forward(y: a.ln1, mean: a.mean1, rstd: a.rstd1, x: x, w: p("layer_norm1.weight"), b: p("layer_norm1.bias"), eps: c.layerNormEps)
            Linear.forward(y: a.q, x: a.ln1, w: p("self_attn.q_proj.weight"), b: p("self_attn.q_proj.bias"))
            Linear.forward(y: a.k, x: a.ln1, w: p("self_attn.k_proj.weight"), b: p("self_attn.k_proj.bias"))
            Linear.forward(y: a.v, x: a.ln1, w: p("self_attn.v_proj.weight"), b: p("self_attn.v_proj.bias"))
            Attention.forward(y: a.attY, att: a.att, q: a.q, k: a.k, v: a.v, keyMask: nil, shape: shape)
            Linear.forward(y: a.h, x: a.attY, w: p("self_attn.out_proj.weight"), b: p("self_attn.out_proj.bias"))
            Elementwise.add(a.h, a.h, x)
            LayerNorm.forward(y: a.ln2, mean: a.mean2, rstd: a.rstd2, x: a.h, w: p("layer_norm2.weight"), b: p("layer_norm2.bias"), eps: c.layerNormEps)
            Linear.forward(y: a.fc1, x: a.ln2, w: p("mlp.fc1.weight"), b: p("mlp.fc1.bias"))
            GELU.forward(y: a.act, x: a.fc1)
            Linear.forward(y: a.out, x: a.act, w: p("mlp.fc2.weight"), b: p("mlp.fc2.bias"))
            Elementwise.add(a.out, a.out, a.h)
            x = a.out
        }
        // Feature selection: drop the class token unless `cls_patch`.
        let skip = cls - (keepClassToken ? 1 : 0), F = featureCount
        for b in 0..<B { (acts.features.data + b * F * C).update(from: x.data + (b * T + skip) * C, count: F * C) }
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
            let a = acts.blocks[l], x = l == 0 ? acts.x0 : acts.blocks[l - 1].out
            func p(_ n: String) -> Tensor { w(block(l, n)) }
            func gp(_ n: String) -> Tensor? { g(block(l, n)) }
            // out = h + fc2(GELU(fc1(ln2)))
            d.dact.zero()
            Linear.backward(dx: d.dact, dw: gp("mlp.fc2.weight"), db: gp("mlp.fc2.bias"), dy: d.dres, x: a.act, w: p("mlp.fc2.weight"))
            d.dfc1.zero()
            GELU.backward(dx: d.dfc1, dy: d.dact, x: a.fc1)
            d.dln.zero()
            Linear.backward(dx: d.dln, dw: gp("mlp.fc1.weight"), db: gp("mlp.fc1.bias"), dy: d.dfc1, x: a.ln2, w: p("mlp.fc1.weight"))
            LayerNorm.backward(dx: d.dres, dw: gp("layer_norm2.weight"), db: gp("layer_norm2.bias"), dy: d.dln, x: a.h,
                               w: p("layer_norm2.weight"), mean: a.mean2, rstd: a.rstd2)
            // h = x + out_proj(Attn(q, k, v))
            d.dattY.zero()
            Linear.backward(dx: d.dattY, dw: gp("self_attn.out_proj.weight"), db: gp("self_attn.out_proj.bias"), dy: d.dres,
                            x: a.attY, w: p("self_attn.out_proj.weight"))
            d.dq.zero(); d.dk.zero(); d.dv.zero()
            Attention.backward(dq: d.dq, dk: d.dk, dv: d.dv, datt: d.datt, dy: d.dattY, att: a.att, q: a.q, k: a.k, v: a.v, shape: shape)
            d.dln.zero()
            Linear.backward(dx: d.dln, dw: gp("self_attn.q_proj.weight"), db: gp("self_attn.q_proj.bias"), dy: d.dq, x: a.ln1, w: p("self_attn.q_proj.weight"))
            Linear.backward(dx: d.dln, dw: gp("self_attn.k_proj.weight"), db: gp("self_attn.k_proj.bias"), dy: d.dk, x: a.ln1, w: p("self_attn.k_proj.weight"))
            Linear.backward(dx: d.dln, dw: gp("self_attn.v_proj.weight"), db: gp("self_attn.v_proj.bias"), dy: d.dv, x: a.ln1, w: p("self_attn.v_proj.weight"))
            LayerNorm.backward(dx: d.dres, dw: gp("layer_norm1.weight"), db: gp("layer_norm1.bias"), dy: d.dln, x: x,
                               w: p("layer_norm1.weight"), mean: a.mean1, rstd: a.rstd1)
        }
        // x0 = preLN(embeddings) (CLIP) or embeddings: dembeddings into dln.
        let dembeddings = d.dln
        if c.hasClassToken {
            dembeddings.zero()
            LayerNorm.backward(dx: dembeddings, dw: g("pre_layrnorm.weight"), db: g("pre_layrnorm.bias"), dy: d.dres, x: acts.embeddings,
                               w: w("pre_layrnorm.weight"), mean: acts.preMean, rstd: acts.preRstd)
        } else {
            dembeddings.copy(from: d.dres)
        }
        // embeddings = [class | patches] + positions
        if let gpos = g("embeddings.position_embedding.weight") {
            for b in 0..<B { for i in 0..<(T * C) { gpos.data[i] += dembeddings.data[b * T * C + i] } }
        }
        if cls == 1, let gcls = g("embeddings.class_embedding") {
            for b in 0..<B { for i in 0..<C { gcls.data[i] += dembeddings.data[b * T * C + i] } }
        }
        let gpw = g("embeddings.patch_embedding.weight"), gpb = c.hasClassToken ? nil : g("embeddings.patch_embedding.bias")
        guard gpw != nil || gpb != nil else { return }
        // Gather the patch rows' gradients, then patchOut = patches · Wᵀ (+ b).
        let dpatch = d.dattY.rows(0..<(B * NP)).reshaped([B * NP, C])  // reuse scratch: B·NP ≤ B·T rows
        for b in 0..<B { (dpatch.data + b * NP * C).update(from: dembeddings.data + (b * T + cls) * C, count: NP * C) }
        Linear.backward(dx: nil, dw: gpw?.reshaped([C, 3 * P * P]), db: gpb, dy: dpatch, x: acts.patches,
                        w: w("embeddings.patch_embedding.weight").reshaped([C, 3 * P * P]))
    }
}
