import Model
import Tensor
import TestSupport
import Testing

/// Parrot's MoE: finite-difference checks of the guidance attention, router and experts through
/// the whole block — the visual tokens (class token included), the text embeddings that guide
/// and every tensor — dense, top-k and with the load-balance loss.
struct ParrotTests {
    @Test(arguments: [(nil, 0), (2, 0), (nil, 0.5)] as [(Int?, Float)])
    func moeGradients(topK: Int?, balance: Float) {
        let C = 6, F = 3, E = 4, N = 9
        let moe = ParrotMoE(config: ParrotConfig(numExperts: E, intermediateSize: 5, residualScale: 0.1, topK: topK,
                                                 loadBalanceWeight: balance, initializerRange: 0.5), hidden: C)
        moe.initialize(seed: 3)
        moe.parameters.setTrainable(matching: ["*"])
        moe.parameters.zeroGradients()
        let s = TestTensors(seed: 9)
        let h = s.make([2 * F, C]), text = s.make([N, C]), dout = s.make([2 * F, C])
        let guidance = [[0, 1, 2, 4], [5, 7]]
        let acts = moe.makeActivations(images: 2, tokens: F, maxGuidance: 8)
        let loss = { () -> Double in
            moe.forward(h: h, text: text, guidance: guidance, acts)
            return GradientCheck.dot(acts.output, dout) + Double(acts.balanceLoss)
        }
        _ = loss()
        let dh = s.zeros(h.shape), dtext = s.zeros(text.shape)
        moe.backward(dout: dout, h: h, dh: dh, text: text, dtext: dtext, guidance: guidance, acts)
        #expect((0..<C).allSatisfy { dtext[3 * C + $0] == 0 }, "a row that guides nothing gets no gradient")
        for (name, x, dx) in [("visual tokens", h, dh), ("text embeddings", text, dtext)] {
            let e = GradientCheck.relativeError(of: x, analytic: dx, eps: 1e-2, loss: loss)
            #expect(e < 1e-2, "\(name): relative error \(e)")
        }
        for (i, p) in moe.parameters.table.enumerated() {
            let e = GradientCheck.relativeError(of: moe.parameters.value(at: i), analytic: moe.parameters.gradient(at: i)!, eps: 1e-2, loss: loss)
            #expect(e < 1e-2, "\(p.name): relative error \(e)")
        }
        if let k = topK { #expect((0..<2).allSatisfy { b in (0..<E).filter { acts.weights[b * E + $0] > 0 }.count == k }) }
    }

    /// The whole multimodal step with the MoE: pixels → tower (class token kept) → projector →
    /// MoE guided by the prompt's embeddings → splice → decoder loss; the embedding table's
    /// gradient includes the guidance path, and the MoE, projector and tower get exact gradients.
    @Test func multimodalStepWithMoE() throws {
        let text = DecoderConfig(hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 12, vocabSize: 12,
                                 maxPositionEmbeddings: 16)
        let vision = VisionConfig(hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, imageSize: 8, patchSize: 4)
        var config = MultimodalConfig(textConfig: text, visionConfig: vision, visionFeatureLayer: -1, visionFeatureSelectStrategy: "full",
                                      imageTokenIndex: 11)
        config.parrot = ParrotConfig(numExperts: 3, intermediateSize: 6, initializerRange: 0.5)
        try config.validate(file: "test")
        let m = MultimodalModel(config: config)
        m.decoder.initialize(seed: 1, std: 0.4)
        m.encoder.initialize(seed: 2, std: 0.4)
        m.projector.initialize(seed: 3, std: 0.5)
        m.moe!.initialize(seed: 4)
        m.setTrainable(matching: ["*"])
        #expect(m.imageTokens == 5)
        let F = m.imageTokens, T = 10
        let acts = m.makeActivations(batch: 2, sequence: T, images: 2)
        // sequence b: BOS, question tokens, 5 image tokens, answer (targets on the answer only)
        let tokens: [Int32] = [1, 4, 11, 11, 11, 11, 11, 5, 6, 2, 1, 7, 8, 11, 11, 11, 11, 11, 9, 2]
        var targets = [Int32](repeating: -100, count: 2 * T)
        targets[7] = 6; targets[8] = 2; targets[17] = 9; targets[18] = 2
        acts.text.setBatch(tokens: tokens, targets: targets)
        acts.resetImages()
        for b in 0..<2 { acts.assignImage(b, toSequence: b, imageToken: 11, visualTokens: F) }
        acts.imageCount = 2
        var rng = SeededGenerator(seed: 5)
        for i in 0..<acts.vision.pixels.count { acts.vision.pixels[i] = 2 * rng.uniform() - 1 }
        let loss = { () -> Double in
            m.forward(acts)
            return Double(m.decoder.loss(acts.text).loss)
        }
        _ = loss()
        #expect(acts.guidance == [[0, 1, 7], [10, 11, 12]], "BOS and the question guide; image rows and answers do not")
        for p in m.parameterSets { p.zeroGradients() }
        m.backward(acts)
        let checks: [(Parameters, String)] = [(m.decoder.parameters, "model.embed_tokens.weight"), (m.moe!.parameters, "multi_modal_moe.router.weight"),
                                              (m.moe!.parameters, "multi_modal_moe.experts.1.up_proj.weight"),
                                              (m.projector.parameters, "multi_modal_projector.linear_1.weight"),
                                              (m.encoder.parameters, "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight")]
        for (set, name) in checks {
            let e = GradientCheck.relativeError(of: set.value(name), analytic: set.gradient(name)!, eps: 1e-2, maxElements: 40, loss: loss)
            #expect(e < 1e-2, "\(name): relative error \(e)")
        }
    }
}
