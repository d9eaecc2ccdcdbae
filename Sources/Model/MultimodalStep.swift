import Tensor

/// Everything one multimodal forward/backward pass keeps: the decoder's activations for
/// B sequences of T tokens, the vision tower's for up to B images, the projector's, and which
/// visual token goes to which sequence row.
public final class MultimodalActivations: @unchecked Sendable {
    public let text: DecoderActivations
    public let vision: VisionActivations
    public let projected: Projector.Activations
    /// (visual row, sequence row) pairs: image i's f-th token is visual row i·F + f.
    public var splice: [(from: Int, to: Int)] = []
    /// Images in `vision.pixels` this step (the rest of its batch is ignored).
    public var imageCount = 0

    init(model: MultimodalModel, batch: Int, sequence: Int, images: Int) {
        text = DecoderActivations(config: model.config.textConfig, batch: batch, sequence: sequence)
        vision = model.encoder.makeActivations(batch: max(1, images))
        projected = model.projector.makeActivations(rows: max(1, images) * model.imageTokens)
    }

    public var bytes: Int { text.arena.bytes + vision.arena.bytes + projected.arena.bytes }

    /// Marks the sequence rows that hold `<image>` placeholders as fed by image `image`'s visual
    /// tokens, in order; placeholders past the F visual tokens (or sequences without one) are untouched.
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
            ImageSplice.forward(embeddings: acts.text.embeddings.reshaped([acts.text.batch * acts.text.sequence, config.textConfig.hiddenSize]),
                                visual: acts.projected.output, rows: acts.splice)
        }
        decoder.forwardLayers(acts.text)
    }

    /// Backpropagates the loss into every trainable tensor of the three parts: the decoder's
    /// input-embedding gradient at the visual rows flows into the projector and, when any of
    /// its tensors train, the vision tower.
    public func backward(_ acts: MultimodalActivations, lossScale: Float? = nil) {
        decoder.backward(acts.text, lossScale: lossScale)
        guard acts.imageCount > 0, projector.parameters.gradients != nil || encoder.parameters.gradients != nil else { return }
        let F = imageTokens, C = config.textConfig.hiddenSize, V = config.visionConfig.hiddenSize
        let rows = acts.vision.batch * F
        let dvisual = Tensor(acts.projected.output.data, shape: [rows, C])  // the output is no longer needed: reuse it
        dvisual.zero()
        ImageSplice.backward(dvisual: dvisual, dembeddings: acts.text.inputGradient.reshaped([acts.text.batch * acts.text.sequence, C]),
                             rows: acts.splice)
        let encoderTrains = encoder.parameters.gradients != nil
        let features = acts.vision.features.reshaped([rows, V])
        if encoderTrains { acts.vision.featuresGradient.zero() }
        projector.backward(dy: dvisual, x: features, dx: encoderTrains ? acts.vision.featuresGradient.reshaped([rows, V]) : nil, acts.projected)
        if encoderTrains { encoder.backward(acts.vision) }
    }
}
