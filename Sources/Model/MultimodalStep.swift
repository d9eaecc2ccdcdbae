import Tensor

/// Everything one multimodal forward/backward pass keeps: the decoder's activations for
/// B sequences of T tokens, the vision tower's for up to B images, the projector's, and which
/// visual token goes to which sequence row.
public final class MultimodalActivations: @unchecked Sendable {
    public let text: DecoderActivations
    public let vision: VisionActivations
    public let projected: Projector.Activations
    /// Parrot's MoE activations, and the gradient buffers its backward needs (when the model has one).
    public let moe: ParrotMoE.Activations?
    let moeBuffers: (dvisual: Tensor, dprojected: Tensor, dtext: Tensor)?
    /// Per image slot of the vision batch, the sequence rows whose token embeddings guide its routing (non-answer text).
    public internal(set) var guidance: [[Int]] = []
    /// (visual row, sequence row) pairs: image i's f-th token is visual row i·F + f.
    public var splice: [(from: Int, to: Int)] = []
    /// Images in `vision.pixels` this step (the rest of its batch is ignored).
    public var imageCount = 0

    init(model: MultimodalModel, batch: Int, sequence: Int, images: Int) {
        text = DecoderActivations(config: model.config.textConfig, batch: batch, sequence: sequence)
        vision = model.encoder.makeActivations(batch: max(1, images))
        projected = model.projector.makeActivations(rows: max(1, images) * model.imageTokens)
        let rows = max(1, images) * model.imageTokens, C = model.config.textConfig.hiddenSize
        moe = model.moe?.makeActivations(images: max(1, images), tokens: model.imageTokens, maxGuidance: sequence)
        if model.moe != nil {
            let (arena, l) = Arena.build { allocate in (allocate([rows, C]), allocate([rows, C]), allocate([batch * sequence, C])) }
            moeArena = arena
            moeBuffers = l
        } else {
            moeArena = nil
            moeBuffers = nil
        }
    }
    private let moeArena: Arena?

    public var bytes: Int { text.arena.bytes + vision.arena.bytes + projected.arena.bytes + (moe?.arena.bytes ?? 0) + (moeArena?.bytes ?? 0) }

    /// Which rows guide each image slot's routing: the real, non-image rows of the sequence its
    /// tokens go to that are not part of an answer (a row is an answer token when the row before
    /// it has a target). Slots without an image (a text-only sequence) get none.
    func updateGuidance(tokensPerImage F: Int) {
        let T = text.sequence
        var sequenceOfSlot = [Int?](repeating: nil, count: vision.batch)
        for (from, to) in splice where sequenceOfSlot[from / F] == nil { sequenceOfSlot[from / F] = to / T }
        guidance = sequenceOfSlot.map { sequence in
            guard let b = sequence else { return [] }
            return (0..<T).map { b * T + $0 }.filter { n in
                let t = n % T
                return text.attentionMask[n] != 0 && text.replacedRows[n] == 0 && (t == 0 || text.targets[n - 1] < 0)
            }
        }
    }

    public func assignImage(_ image: Int, toSequence b: Int, imageToken: Int32, visualTokens F: Int) {
        let T = text.sequence
        var f = 0
        for t in 0..<T where text.tokens[b * T + t] == imageToken && f < F {
            splice.append((from: image * F + f, to: b * T + t))
            text.replacedRows[b * T + t] = 1
            f += 1
        }
    }

    /// Forgets the previous batch's images.
    public func resetImages() {
        splice.removeAll(keepingCapacity: true)
        imageCount = 0
        text.replacedRows.update(repeating: 0, count: text.batch * text.sequence)
    }
}

extension MultimodalModel {
    public func makeActivations(batch: Int, sequence: Int, images: Int? = nil) -> MultimodalActivations {
        MultimodalActivations(model: self, batch: batch, sequence: sequence, images: images ?? batch)
    }

    /// Images → vision tower → projector → spliced over the `<image>` placeholders → decoder.
    /// Logits end in `acts.text.logits`.
    public func forward(_ acts: MultimodalActivations) {
        decoder.embed(acts.text)
        if acts.imageCount > 0 {
            encoder.forward(acts.vision)
            let F = imageTokens
            projector.forward(acts.vision.features.reshaped([acts.vision.batch * F, config.visionConfig.hiddenSize]), acts.projected)
            let embeddings = acts.text.embeddings.reshaped([acts.text.batch * acts.text.sequence, config.textConfig.hiddenSize])
            var visual = acts.projected.output
            if moeActive, let moe, let m = acts.moe {
                // Parrot: the image's class token, guided by its prompt's text, routes the tokens to experts
                acts.updateGuidance(tokensPerImage: F)
                moe.forward(h: acts.projected.output, text: embeddings, guidance: acts.guidance, m)
                visual = m.output
            }
            ImageSplice.forward(embeddings: embeddings, visual: visual, rows: acts.splice)
        }
        decoder.forwardLayers(acts.text)
    }

    /// Backpropagates the loss into every trainable tensor of the three parts: the decoder's
    /// input-embedding gradient at the visual rows flows into the projector and, when any of
    /// its tensors train, the vision tower.
    public func backward(_ acts: MultimodalActivations, lossScale: Float? = nil) {
        decoder.backward(acts.text, lossScale: lossScale)
        let moeTrains = moeActive && moe?.parameters.gradients != nil
        guard acts.imageCount > 0, projector.parameters.gradients != nil || encoder.parameters.gradients != nil || moeTrains else { return }
        let F = imageTokens, C = config.textConfig.hiddenSize, V = config.visionConfig.hiddenSize
        let rows = acts.vision.batch * F, N = acts.text.batch * acts.text.sequence
        let dembeddings = acts.text.inputGradient.reshaped([N, C])
        var dvisual = Tensor(acts.projected.output.data, shape: [rows, C])  // the output is no longer needed: reuse it
        if moeActive, let moe, let m = acts.moe, let buffers = acts.moeBuffers {
            // H' = MoE(H, text): dH' from the splice, then dH (and d(text embeddings) into the embedding table)
            let dout = Tensor(buffers.dvisual.data, shape: [rows, C])
            dout.zero()
            ImageSplice.backward(dvisual: dout, dembeddings: dembeddings, rows: acts.splice)
            dvisual = Tensor(buffers.dprojected.data, shape: [rows, C])
            dvisual.zero()
            let embedGradient = decoder.parameters.gradient("model.embed_tokens.weight")
            if embedGradient != nil { buffers.dtext.zero() }
            moe.backward(dout: dout, h: acts.projected.output, dh: dvisual, text: acts.text.embeddings.reshaped([N, C]),
                         dtext: embedGradient == nil ? nil : buffers.dtext, guidance: acts.guidance, m)
            if let ge = embedGradient {
                Embedding.backward(dtable: ge, dout: buffers.dtext, ids: acts.text.tokens, skip: acts.text.replacedRows)
            }
            guard projector.parameters.gradients != nil || encoder.parameters.gradients != nil else { return }
        } else {
            dvisual.zero()
            ImageSplice.backward(dvisual: dvisual, dembeddings: dembeddings, rows: acts.splice)
        }
        let encoderTrains = encoder.parameters.gradients != nil
        let features = acts.vision.features.reshaped([rows, V])
        if encoderTrains { acts.vision.featuresGradient.zero() }
        projector.backward(dy: dvisual, x: features, dx: encoderTrains ? acts.vision.featuresGradient.reshaped([rows, V]) : nil, acts.projected)
        if encoderTrains { encoder.backward(acts.vision) }
    }
}

extension MultimodalModel {
    /// Parrot at inference: replaces one image's projected tokens `visual` (F, C) in place with
    /// the MoE's output, guided by the embeddings of `guidanceTokens` (its prompt's text, without
    /// the image placeholders). Returns the routing weights (E). `acts` needs room for one image.
    @discardableResult
    public func routeImage(_ visual: Tensor, guidanceTokens: [Int32], _ acts: ParrotMoE.Activations) -> [Float] {
        guard moeActive, let moe else { return [] }
        let C = config.textConfig.hiddenSize, F = imageTokens
        let tokens = Array(guidanceTokens.filter { $0 != Int32(config.imageTokenIndex) }.suffix(acts.maxGuidance))
        let text = Tensor(acts.guidanceText.data, shape: [tokens.count, C])
        if !tokens.isEmpty {
            tokens.withUnsafeBufferPointer { Embedding.forward(out: text, ids: $0.baseAddress!, table: decoder.parameters.value("model.embed_tokens.weight")) }
        }
        moe.forward(h: Tensor(visual.data, shape: [F, C]), text: text, guidance: [Array(0..<tokens.count)], acts)
        visual.data.update(from: acts.output.data, count: F * C)
        return Array(UnsafeBufferPointer(start: acts.weights.data, count: moe.config.numExperts))
    }
}
