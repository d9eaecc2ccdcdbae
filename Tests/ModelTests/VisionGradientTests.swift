import Model
import Tensor
import TestSupport
import Testing

/// Finite-difference checks of the vision path: ViT blocks and patch embedding (every
/// parameter), the projector (input and parameters), and the image-token splice: gradients
/// reaching the projector and the encoder through the decoder's input embeddings.
struct VisionGradientTests {
    static let clip = VisionConfig(modelType: "clip_vision_model", hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 3,
                                   numAttentionHeads: 2, imageSize: 8, patchSize: 4)
    static let siglip = VisionConfig(modelType: "siglip_vision_model", hiddenSize: 8, intermediateSize: 12, numHiddenLayers: 2,
                                     numAttentionHeads: 2, imageSize: 8, patchSize: 4)

    /// Random weights with LayerNorm gains near 1, so every path carries signal.
    func randomize(_ p: Parameters, seed: UInt64, scale: Float = 0.4) {
        var rng = SeededGenerator(seed: seed)
        for (i, info) in p.table.enumerated() {
            let t = p.value(at: i)
            let gain = info.name.contains("norm") && info.name.hasSuffix("weight")
            for j in 0..<t.count { t[j] = gain ? 1 + 0.2 * rng.normal() : scale * rng.normal() }
        }
    }

    @Test(arguments: [(0, -2, false), (0, -1, true), (1, -1, false)])
    func encoderGradients(variant: Int, selectLayer: Int, keepClassToken: Bool) {
        let config = variant == 0 ? Self.clip : Self.siglip
        let encoder = VisionEncoder(config: config, selectLayer: selectLayer, keepClassToken: keepClassToken)
        randomize(encoder.parameters, seed: 5)
        encoder.parameters.setTrainable(matching: ["*"])
        let acts = encoder.makeActivations(batch: 2)
        var rng = SeededGenerator(seed: 6)
        for i in 0..<acts.pixels.count { acts.pixels[i] = 2 * rng.uniform() - 1 }
        let storage = TestTensors(seed: 7)
        let dout = storage.make(acts.features.shape)
        encoder.parameters.zeroGradients()
        encoder.forward(acts)
        acts.featuresGradient.copy(from: dout)
        encoder.backward(acts)
        #expect(acts.features.shape == [2, config.patchCount + (keepClassToken ? 1 : 0), config.hiddenSize])
        for (i, p) in encoder.parameters.table.enumerated() {
            if p.name.hasSuffix("k_proj.bias") {
                // A bias shared by every key shifts all of a query's scores equally: softmax ignores it,
                // so the true gradient is exactly 0 (finite differences would compare noise with noise).
                #expect(encoder.parameters.gradient(at: i)!.array.allSatisfy { abs($0) < 1e-5 }, "\(p.name)")
                continue
            }
            let e = GradientCheck.relativeError(of: encoder.parameters.value(at: i), analytic: encoder.parameters.gradient(at: i)!,
                                                eps: 1e-2, maxElements: 32) {
                encoder.forward(acts)
                return GradientCheck.dot(acts.features, dout)
            }
            #expect(e < 1e-2, "\(config.modelType) select \(selectLayer): \(p.name) relative error \(e)")
        }
        if selectLayer == -2 {
            let unused = encoder.parameters.gradient("vision_tower.vision_model.encoder.layers.2.mlp.fc1.weight")!
            #expect(unused.array.allSatisfy { $0 == 0 }, "blocks after the selected layer do not run")
        }
    }

    @Test(arguments: Projector.Kind.allCases)
    func projectorGradients(kind: Projector.Kind) {
        let projector = Projector(kind: kind, inputSize: 6, outputSize: 5)
        randomize(projector.parameters, seed: 8, scale: 0.6)
        projector.parameters.setTrainable(matching: ["*"])
        let t = TestTensors(seed: 9)
        let x = t.make([4, 6]), dy = t.make([4, 5]), dx = t.zeros([4, 6])
        let acts = projector.makeActivations(rows: 4)
        let output = Tensor(acts.output.data, shape: [4, 5])
        projector.forward(x, acts)
        projector.backward(dy: dy, x: x, dx: dx, acts)
        let loss = { () -> Double in projector.forward(x, acts); return GradientCheck.dot(output, dy) }
        #expect(GradientCheck.relativeError(of: x, analytic: dx, eps: 1e-2, loss: loss) < 1e-2)
        for (i, p) in projector.parameters.table.enumerated() {
            let e = GradientCheck.relativeError(of: projector.parameters.value(at: i), analytic: projector.parameters.gradient(at: i)!, eps: 1e-2, loss: loss)
            #expect(e < 1e-2, "\(kind): \(p.name) relative error \(e)")
        }
    }

    /// pixels → ViT → projector → spliced over the <image> placeholders → decoder → loss:
    /// the projector's and the encoder's weights get their gradients through the decoder's
    /// input-embedding gradient, and the placeholder's own embedding row gets none.
    @Test func spliceCarriesGradientsToProjectorAndEncoder() {
        let decoderConfig = DecoderConfig(hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 12, vocabSize: 10,
                                          maxPositionEmbeddings: 16)
        let decoder = DecoderModel(config: decoderConfig)
        randomize(decoder.parameters, seed: 10)
        let encoder = VisionEncoder(config: Self.clip)
        randomize(encoder.parameters, seed: 11)
        let projector = Projector(kind: .mlp2xGELU, inputSize: Self.clip.hiddenSize, outputSize: decoderConfig.hiddenSize)
        randomize(projector.parameters, seed: 12, scale: 0.6)
        for p in [decoder.parameters, encoder.parameters, projector.parameters] { p.setTrainable(matching: ["*"]) }

        // One image per sequence: 4 visual tokens at positions 1...4 (token 9 is the placeholder).
        let B = 2, T = 8, F = encoder.featureCount, image: Int32 = 9
        let tokens: [Int32] = [1, 9, 9, 9, 9, 3, 4, 5, 1, 2, 9, 9, 9, 9, 6, 7]
        let targets: [Int32] = [-100, -100, -100, -100, 3, 4, 5, 2, 2, -100, -100, -100, -100, 6, 7, 2]
        let positions = tokens.indices.filter { tokens[$0] == image }
        let rows = positions.enumerated().map { (from: $0.offset, to: $0.element) }
        let acts = DecoderActivations(config: decoderConfig, batch: B, sequence: T)
        acts.setBatch(tokens: tokens, targets: targets)
        for p in positions { acts.replacedRows[p] = 1 }
        let vision = encoder.makeActivations(batch: B)
        var rng = SeededGenerator(seed: 13)
        for i in 0..<vision.pixels.count { vision.pixels[i] = 2 * rng.uniform() - 1 }
        let projected = projector.makeActivations(rows: B * F)
        let features = vision.features.reshaped([B * F, Self.clip.hiddenSize])
        let storage = TestTensors()
        let dvisual = storage.zeros([B * F, decoderConfig.hiddenSize])

        func forward() -> Double {
            encoder.forward(vision)
            projector.forward(features, projected)
            decoder.embed(acts)
            ImageSplice.forward(embeddings: acts.embeddings.reshaped([B * T, decoderConfig.hiddenSize]), visual: projected.output, rows: rows)
            decoder.forwardLayers(acts)
            return Double(decoder.loss(acts).loss)
        }
        _ = forward()
        decoder.backward(acts)
        ImageSplice.backward(dvisual: dvisual, dembeddings: acts.inputGradient.reshaped([B * T, decoderConfig.hiddenSize]), rows: rows)
        projector.backward(dy: dvisual, x: features, dx: vision.featuresGradient.reshaped([B * F, Self.clip.hiddenSize]), projected)
        encoder.backward(vision)

        for (i, p) in projector.parameters.table.enumerated() {
            let e = GradientCheck.relativeError(of: projector.parameters.value(at: i), analytic: projector.parameters.gradient(at: i)!, eps: 1e-2, loss: forward)
            #expect(e < 1e-2, "\(p.name) relative error \(e)")
        }
        for name in ["embeddings.patch_embedding.weight", "embeddings.position_embedding.weight", "encoder.layers.0.self_attn.q_proj.weight",
                     "encoder.layers.1.mlp.fc2.bias"] {
            let full = "vision_tower.vision_model." + name
            let e = GradientCheck.relativeError(of: encoder.parameters.value(full), analytic: encoder.parameters.gradient(full)!,
                                                eps: 1e-2, maxElements: 24, loss: forward)
            #expect(e < 1e-2, "\(full) relative error \(e)")
        }
        let placeholder = decoder.parameters.gradient("model.embed_tokens.weight")!.rows(9..<10)
        #expect(placeholder.array.allSatisfy { $0 == 0 }, "the <image> placeholder's embedding learns nothing from visual tokens")
    }
}
