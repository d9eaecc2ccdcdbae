import Tensor

/// Parrot's language-guided mixture of experts on the visual tokens (Sources/Train/Train.docc, "Methods").
///
/// Per image, with H (F, C) its projected tokens (H[0] the class token) and T (M, C) the token
/// embeddings of its sample's non-answer text (system prompt and question):
///
///     α = softmax(H[0] Tᵀ / √C)        (M)   guidance attention of the class token over the text
///     g = α T                           (C)
///     p = softmax(W_g g)                (E)   dense routing, no bias (top-k: the rest −∞)
///     H' = Σᵢ pᵢ Eᵢ(H) + λ H            (F, C),   Eᵢ(x) = W_downᵢ (SiLU(W_gateᵢ x) ⊙ W_upᵢ x)
///
/// H' replaces the image tokens. With `load_balance_weight` w > 0 the loss gains
/// w · E · Σᵢ fᵢ Pᵢ (Switch Transformer): Pᵢ the batch's mean pᵢ, fᵢ the share of its images
/// whose largest pᵢ is i (a constant: the gradient flows through P).
///
/// Tensors: `multi_modal_moe.router.weight` (E, C),
/// `multi_modal_moe.experts.{i}.{gate_proj,up_proj}.weight` (I, C), `….down_proj.weight` (C, I).
/// Legend: B images, F tokens per image, R = B·F rows, C hidden, E experts, I expert width, M guidance rows.
public final class ParrotMoE: @unchecked Sendable {
    public let config: ParrotConfig
    public let hidden: Int
    public let parameters: Parameters
    let layout: Layout
    public static let prefix = "multi_modal_moe."

    /// The MoE's parameter table and slots, declared once.
    struct Layout {
        /// One SwiGLU expert's tensors.
        struct Expert { let gate, up, down: ParameterSlot }  // (I, C), (I, C), (C, I)
        let table: [ParameterInfo]
        let router: ParameterSlot  // (E, C)
        let experts: [Expert]

        init(_ c: ParrotConfig, hidden C: Int) {
            var t = ParameterTableBuilder()
            router = t.add(prefix + "router.weight", [c.numExperts, C])
            experts = (0..<c.numExperts).map { i in
                let p = prefix + "experts.\(i)."
                let gate = t.add(p + "gate_proj.weight", [c.intermediateSize, C]), up = t.add(p + "up_proj.weight", [c.intermediateSize, C])
                return Expert(gate: gate, up: up, down: t.add(p + "down_proj.weight", [C, c.intermediateSize]))
            }
            table = t.table
        }
    }

    public init(config: ParrotConfig, hidden: Int) {
        self.config = config
        self.hidden = hidden
        layout = Layout(config, hidden: hidden)
        parameters = Parameters(layout.table)
    }

    /// Every matrix N(0, std²).
    public func initialize(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for i in 0..<parameters.table.count {
            let t = parameters.value(at: i)
            for j in 0..<t.count { t[j] = rng.normal() * config.initializerRange }
        }
    }

    private func w(_ s: ParameterSlot) -> Tensor { parameters.value(s) }
    private func g(_ s: ParameterSlot) -> Tensor? { parameters.gradient(s) }

    /// Saved activations for up to B images of F tokens, with up to M guidance rows each.
    public final class Activations: @unchecked Sendable {
        public let arena: Arena
        let images: Int, tokens: Int, maxGuidance: Int
        let alpha: Tensor      // (B, M)
        let guide: Tensor      // (B, C) g
        let logits: Tensor     // (B, E) z
        /// (B, E) the routing weights p of the last forward.
        public let weights: Tensor
        let gate: [Tensor]     // E × (R, I)
        let up: [Tensor]       // E × (R, I)
        let act: [Tensor]      // E × (R, I)
        let expert: [Tensor]   // E × (R, C)  Eᵢ(H)
        /// (R, C) H'.
        public let output: Tensor
        let dweights: Tensor   // (B, E)
        let dy: Tensor         // (R, C)
        let dact: Tensor, dgate: Tensor, dup: Tensor  // (R, I)
        let dguide: Tensor     // (B, C)
        let dalpha: Tensor     // (B, M)
        let guidanceText: Tensor  // (M, C) the guiding embeddings at inference (`MultimodalModel.visualTokens` with `.prompts` guidance)
        /// Images of the last forward, and the balance loss it added (0 when off).
        public internal(set) var count = 0
        public internal(set) var balanceLoss: Float = 0
        var balanceShare: [Float] = []

        init(config c: ParrotConfig, hidden C: Int, images B: Int, tokens F: Int, maxGuidance M: Int) {
            let R = B * F, E = c.numExperts, I = c.intermediateSize
            typealias Layout = (Tensor, Tensor, Tensor, Tensor, [Tensor], [Tensor], [Tensor], [Tensor], Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)
            let (arena, l): (Arena, Layout) = Arena.build { allocate in
                (allocate([B, M]), allocate([B, C]), allocate([B, E]), allocate([B, E]),
                 (0..<E).map { _ in allocate([R, I]) }, (0..<E).map { _ in allocate([R, I]) },
                 (0..<E).map { _ in allocate([R, I]) }, (0..<E).map { _ in allocate([R, C]) },
                 allocate([R, C]), allocate([B, E]), allocate([R, C]), allocate([R, I]), allocate([R, I]), allocate([R, I]),
                 allocate([B, C]), allocate([B, M]), allocate([M, C]))
            }
            self.arena = arena
            images = B; tokens = F; maxGuidance = M
            (alpha, guide, logits, weights, gate, up, act, expert, output, dweights, dy, dact, dgate, dup, dguide, dalpha, guidanceText) = l
        }
    }

    public func makeActivations(images: Int, tokens: Int, maxGuidance: Int) -> Activations {
        Activations(config: config, hidden: hidden, images: images, tokens: tokens, maxGuidance: maxGuidance)
    }

    /// H' for `guidance.count` images: `h` (B·F, C) their projected tokens, `guidance[b]` the rows
    /// of `text` (N, C) that guide image b (at most `maxGuidance`; none: g = 0, uniform routing).
    public func forward(h: Tensor, text: Tensor, guidance: [[Int]], _ a: Activations) {
        let B = guidance.count, F = a.tokens, C = hidden, E = config.numExperts, M = a.maxGuidance
        precondition(B <= a.images && guidance.allSatisfy { $0.count <= M })
        a.count = B
        let R = B * F, rows = { (t: Tensor) in Tensor(t.data, shape: [R, t.lastDimension]) }
        let hR = Tensor(h.data, shape: [R, C])
        let scale = 1 / Float(C).squareRoot()
        for b in 0..<B {
            // α = softmax(c Tᵀ/√C), g = α T
            let c = h.data + b * F * C, alpha = a.alpha.data + b * M, guide = a.guide.data + b * C
            for (j, row) in guidance[b].enumerated() {
                var s: Float = 0
                for k in 0..<C { s += c[k] * text.data[row * C + k] }
                alpha[j] = s * scale
            }
            if !guidance[b].isEmpty { Softmax.row(alpha, alpha, guidance[b].count) }
            for k in 0..<C { guide[k] = 0 }
            for (j, row) in guidance[b].enumerated() {
                for k in 0..<C { guide[k] += alpha[j] * text.data[row * C + k] }
            }
        }
        // p = softmax(W_g g)  (top-k: the other logits −∞)
        let z = Tensor(a.logits.data, shape: [B, E]), p = Tensor(a.weights.data, shape: [B, E])
        Linear.forward(y: z, x: Tensor(a.guide.data, shape: [B, C]), w: w(layout.router))
        for b in 0..<B {
            let zb = z.data + b * E
            if let k = config.topK, k < E {
                let kept = Set((0..<E).sorted { zb[$0] > zb[$1] }.prefix(k))
                for i in 0..<E where !kept.contains(i) { zb[i] = -.infinity }
            }
            Softmax.row(p.data + b * E, zb, E)
        }
        // Eᵢ(H) on every row; H' = Σ pᵢ Eᵢ(H) + λ H
        let out = rows(a.output)
        out.copy(from: hR)
        Elementwise.scale(out, by: config.residualScale)
        for i in 0..<E {
            let e = layout.experts[i]
            Linear.forward(y: rows(a.gate[i]), x: hR, w: w(e.gate))
            Linear.forward(y: rows(a.up[i]), x: hR, w: w(e.up))
            SwiGLU.forward(out: rows(a.act[i]), gate: rows(a.gate[i]), up: rows(a.up[i]))
            Linear.forward(y: rows(a.expert[i]), x: rows(a.act[i]), w: w(e.down))
            for b in 0..<B {
                let pi = p.data[b * E + i], src = a.expert[i].data + b * F * C, dst = out.data + b * F * C
                for k in 0..<(F * C) { dst[k] += pi * src[k] }
            }
        }
        // Load balance (optional)
        a.balanceLoss = 0
        if config.loadBalanceWeight > 0 {
            var share = [Float](repeating: 0, count: E), mean = [Float](repeating: 0, count: E)
            for b in 0..<B {
                let pb = p.data + b * E
                share[(0..<E).max { pb[$0] < pb[$1] }!] += 1 / Float(B)
                for i in 0..<E { mean[i] += pb[i] / Float(B) }
            }
            a.balanceShare = share
            a.balanceLoss = config.loadBalanceWeight * Float(E) * zip(share, mean).reduce(0) { $0 + $1.0 * $1.1 }
        }
    }

    /// From dH' (B·F, C): adds into the trainable tensors' gradients, into `dh` (B·F, C) and
    /// into `dtext` (N, C) at the guidance rows (nil: the text embeddings get no gradient).
    public func backward(dout: Tensor, h: Tensor, dh: Tensor, text: Tensor, dtext: Tensor?, guidance: [[Int]], _ a: Activations) {
        let B = a.count, F = a.tokens, C = hidden, E = config.numExperts, M = a.maxGuidance
        let R = B * F, rows = { (t: Tensor) in Tensor(t.data, shape: [R, t.lastDimension]) }
        let hR = Tensor(h.data, shape: [R, C]), dhR = Tensor(dh.data, shape: [R, C]), doutR = Tensor(dout.data, shape: [R, C])
        let p = a.weights, dp = a.dweights
        // H' = λH + Σ pᵢ Eᵢ(H):  dH += λ dH';  dpᵢ = ⟨Eᵢ(H), dH'⟩;  dEᵢ = pᵢ dH'
        Elementwise.addScaled(dhR, doutR, alpha: config.residualScale)
        for i in 0..<E {
            let e = layout.experts[i], dy = rows(a.dy)
            for b in 0..<B {
                let pi = p.data[b * E + i], src = dout.data + b * F * C, ex = a.expert[i].data + b * F * C, dst = dy.data + b * F * C
                var dot: Float = 0
                for k in 0..<(F * C) { dst[k] = pi * src[k]; dot += ex[k] * src[k] }
                dp.data[b * E + i] = dot + (config.loadBalanceWeight > 0 ? config.loadBalanceWeight * Float(E) * a.balanceShare[i] / Float(B) : 0)
            }
            // Eᵢ = down(silu(gate) ⊙ up)
            let dact = rows(a.dact), dgate = rows(a.dgate), dup = rows(a.dup)
            dact.zero()
            Linear.backward(dx: dact, dw: g(e.down), db: nil, dy: dy, x: rows(a.act[i]), w: w(e.down))
            dgate.zero(); dup.zero()
            SwiGLU.backward(dgate: dgate, dup: dup, dout: dact, gate: rows(a.gate[i]), up: rows(a.up[i]))
            Linear.backward(dx: dhR, dw: g(e.gate), db: nil, dy: dgate, x: hR, w: w(e.gate))
            Linear.backward(dx: dhR, dw: g(e.up), db: nil, dy: dup, x: hR, w: w(e.up))
        }
        // p = softmax(z):  dz = p ⊙ (dp − ⟨dp, p⟩);  z = W_g g
        for b in 0..<B {
            let pb = p.data + b * E, db = dp.data + b * E
            var dot: Float = 0
            for i in 0..<E { dot += pb[i] * db[i] }
            for i in 0..<E { db[i] = pb[i] * (db[i] - dot) }
        }
        let dguide = Tensor(a.dguide.data, shape: [B, C])
        dguide.zero()
        Linear.backward(dx: dguide, dw: g(layout.router), db: nil, dy: Tensor(dp.data, shape: [B, E]),
                        x: Tensor(a.guide.data, shape: [B, C]), w: w(layout.router))
        // g = α T:  dαⱼ = ⟨dg, Tⱼ⟩, dTⱼ += αⱼ dg;  α = softmax(s): ds = α ⊙ (dα − ⟨dα, α⟩);
        // sⱼ = c·Tⱼ/√C:  dc += Σ dsⱼ Tⱼ/√C, dTⱼ += dsⱼ c/√C
        let scale = 1 / Float(C).squareRoot()
        for b in 0..<B {
            let rowsB = guidance[b], alpha = a.alpha.data + b * M, dalpha = a.dalpha.data + b * M
            let dg = a.dguide.data + b * C, c = h.data + b * F * C, dc = dh.data + b * F * C
            var dot: Float = 0
            for (j, row) in rowsB.enumerated() {
                var s: Float = 0
                for k in 0..<C { s += dg[k] * text.data[row * C + k] }
                dalpha[j] = s
                dot += s * alpha[j]
            }
            for j in rowsB.indices { dalpha[j] = alpha[j] * (dalpha[j] - dot) * scale }
            for (j, row) in rowsB.enumerated() {
                let t = text.data + row * C
                for k in 0..<C { dc[k] += dalpha[j] * t[k] }
                if let dtext {
                    let dt = dtext.data + row * C
                    for k in 0..<C { dt[k] += alpha[j] * dg[k] + dalpha[j] * c[k] }
                }
            }
        }
    }
}
