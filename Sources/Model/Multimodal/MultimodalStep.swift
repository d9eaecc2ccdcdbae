import Tensor

/// Gradients of losses besides the cross-entropy that a backward pass adds on the way (a
/// continual strategy's distillation terms), each called with the cross-entropy's scale.
public struct ExtraGradients {
    /// Adds into the logits' gradient, (B·T, V).
    public var logits: ((Tensor, Float) -> Void)?
    /// Adds into the projector outputs' gradient, (images·F, C) (before the MoE, when one runs).
    public var visualTokens: ((Tensor, Float) -> Void)?

    public init(logits: ((Tensor, Float) -> Void)? = nil, visualTokens: ((Tensor, Float) -> Void)? = nil) {
        self.logits = logits
        self.visualTokens = visualTokens
    }
}

extension MultimodalModel {
    public func makeActivations(batch: Int, sequence: Int, images: Int? = nil) -> MultimodalActivations {
        MultimodalActivations(model: self, batch: batch, sequence: sequence, images: images ?? batch)
    }

    /// Images → vision tower → projector (→ Parrot's MoE when `moe` and the model has one) →
    /// spliced over the `<image>` placeholders → decoder. Logits end in `acts.text.logits`.
    public func forward(_ acts: MultimodalActivations, moe useMoE: Bool = true) {
        decoder.embed(acts.text)
        acts.routedThroughMoE = false
        if acts.imageCount > 0 {
            let embeddings = acts.text.embeddings.reshaped([acts.text.batch * acts.text.sequence, config.textConfig.hiddenSize])
            var guidance: ParrotGuidance?
            if useMoE && moe != nil {
                // Parrot: the image's class token, guided by its prompt's text, routes the tokens to experts
                acts.updateGuidance(tokensPerImage: imageTokens)
                guidance = .rows(text: embeddings, rows: acts.guidance)
                acts.routedThroughMoE = true
            }
            let visual = visualTokens(acts.images, guidance: guidance).tokens
            ImageSplice.forward(embeddings: embeddings, visual: visual, rows: acts.splice)
        }
        decoder.forwardLayers(acts.text)
    }

    /// Backpropagates the loss into every trainable tensor of the parts: the decoder's input-
    /// embedding gradient at the visual rows flows into the MoE (when the forward used it), the
    /// projector and, when any of its tensors train, the vision tower.
    ///
    /// `extra` adds other losses' gradients (a distillation strategy's): into the logits' after the
    /// cross-entropy's, and into the projector outputs' (images·F, C) after the decoder's; each
    /// gets the scale the cross-entropy's was taken at.
    public func backward(_ acts: MultimodalActivations, lossScale: Float? = nil, extra: ExtraGradients = ExtraGradients()) {
        decoder.backward(acts.text, lossScale: lossScale, extraLogitGradient: extra.logits)
        let rowCount = acts.text.batch * acts.text.sequence, count = (0..<rowCount).filter { acts.text.targets[$0] >= 0 }.count
        let scale = lossScale ?? (count > 0 ? 1 / Float(count) : 0)
        let moeTrains = acts.routedThroughMoE && moe?.parameters.gradients != nil
        guard acts.imageCount > 0, projector.parameters.gradients != nil || encoder.parameters.gradients != nil || moeTrains else { return }
        let F = imageTokens, C = config.textConfig.hiddenSize, V = config.visionConfig.hiddenSize
        let rows = acts.vision.batch * F, N = acts.text.batch * acts.text.sequence
        let dembeddings = acts.text.inputGradient.reshaped([N, C])
        var dvisual = Tensor(acts.projected.output.data, shape: [rows, C])  // the output is no longer needed: reuse it
        if acts.routedThroughMoE {
            dvisual = moeBackward(acts, dembeddings: dembeddings)
            guard projector.parameters.gradients != nil || encoder.parameters.gradients != nil else { return }
        } else {
            dvisual.zero()
            ImageSplice.backward(dvisual: dvisual, dembeddings: dembeddings, rows: acts.splice)
        }
        extra.visualTokens?(dvisual, scale)
        let encoderTrains = encoder.parameters.gradients != nil
        let features = acts.vision.features.reshaped([rows, V])
        if encoderTrains { acts.vision.featuresGradient.zero() }
        projector.backward(dy: dvisual, x: features, dx: encoderTrains ? acts.vision.featuresGradient.reshaped([rows, V]) : nil, acts.projected)
        if encoderTrains { encoder.backward(acts.vision) }
    }

    /// H' = MoE(H, text): dH' from the splice, then dH (returned, (images·F, C)); the gradient
    /// into the guiding text embeddings goes back to the decoder's embedding table.
    private func moeBackward(_ acts: MultimodalActivations, dembeddings: Tensor) -> Tensor {
        let C = config.textConfig.hiddenSize, rows = acts.vision.batch * imageTokens, N = dembeddings.rowCount
        let buffers = acts.moeBuffers!
        let dout = Tensor(buffers.dvisual.data, shape: [rows, C])
        dout.zero()
        ImageSplice.backward(dvisual: dout, dembeddings: dembeddings, rows: acts.splice)
        let dvisual = Tensor(buffers.dprojected.data, shape: [rows, C])
        dvisual.zero()
        let embeddingTrains = decoder.embeddingTrains
        if embeddingTrains { buffers.dtext.zero() }
        moe!.backward(dout: dout, h: acts.projected.output, dh: dvisual, text: acts.text.embeddings.reshaped([N, C]),
                      dtext: embeddingTrains ? buffers.dtext : nil, guidance: acts.guidance, acts.moe!)
        if embeddingTrains { decoder.backwardEmbeddings(buffers.dtext, acts.text) }
        return dvisual
    }
}
