import Model
import Tensor
import TestSupport
import Testing

/// Finite-difference checks of the whole decoder: the input embeddings and every parameter,
/// with GQA, Qwen2 biases, LLaMA output bias, tied embeddings and padding.
struct DecoderGradientTests {
    static let configs: [(String, DecoderConfig)] = [
        ("qwen2 GQA + qkv bias", DecoderConfig(modelType: "qwen2", hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
                                               intermediateSize: 12, vocabSize: 11, ropeTheta: 50, maxPositionEmbeddings: 16)),
        ("llama tied + attention_bias", DecoderConfig(hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 10, vocabSize: 9,
                                                      tieWordEmbeddings: true, maxPositionEmbeddings: 16, attentionBias: true)),
    ]

    @Test(arguments: 0..<2) func decoderGradients(which: Int) {
        let (label, config) = Self.configs[which]
        let decoder = DecoderModel(config: config)
        var rng = SeededGenerator(seed: UInt64(7 + which))
        for i in 0..<decoder.parameters.table.count {
            let t = decoder.parameters.value(at: i)
            let isNorm = decoder.parameters.table[i].name.hasSuffix("norm.weight")
            for j in 0..<t.count { t[j] = isNorm ? 1 + 0.3 * rng.normal() : 0.4 * rng.normal() }
        }
        decoder.parameters.setTrainable(matching: ["*"])
        let B = 2, T = 5, V = config.vocabSize
        let acts = DecoderActivations(config: config, batch: B, sequence: T)
        let tokens = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(V)) }
        var targets = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(V)) }
        var mask = [Int32](repeating: 1, count: B * T)
        mask[B * T - 1] = 0; targets[B * T - 1] = -100  // right padding
        targets[0] = -100                               // an unscored position
        acts.setBatch(tokens: tokens, targets: targets, attentionMask: mask)
        Self.expectExactGradients(decoder, acts, label: label)
    }

    /// One forward and backward of `decoder` (every tensor trainable) on the batch in `acts`, then
    /// the input embeddings and every parameter's gradient against central differences (step `eps`).
    static func expectExactGradients(_ decoder: DecoderModel, _ acts: DecoderActivations, eps: Float = 1e-2, label: String) {
        decoder.parameters.zeroGradients()
        decoder.forward(acts)
        _ = decoder.loss(acts)
        decoder.backward(acts)
        let storage = TestTensors()  // owns the copy below; must outlive it
        let inputGradient = storage.zeros(acts.inputGradient.shape)
        inputGradient.copy(from: acts.inputGradient)

        let loss = { () -> Double in
            decoder.forwardLayers(acts)
            return Double(decoder.loss(acts).loss)
        }
        decoder.embed(acts)
        let e = GradientCheck.relativeError(of: acts.embeddings, analytic: inputGradient, eps: eps, loss: loss)
        #expect(e < 1e-2, "\(label): input embeddings relative error \(e)")
        for (i, p) in decoder.parameters.table.enumerated() {
            let e = GradientCheck.relativeError(of: decoder.parameters.value(at: i), analytic: decoder.parameters.gradient(at: i)!,
                                                eps: eps, maxElements: 40) {
                decoder.forward(acts)
                return Double(decoder.loss(acts).loss)
            }
            #expect(e < 1e-2, "\(label): \(p.name) relative error \(e)")
        }
        withExtendedLifetime(storage) {}
    }

    /// Frozen tensors get no gradient storage, and the trainable ones still get exact gradients.
    @Test func frozenParametersCostNothing() {
        let config = Self.configs[0].1
        let decoder = DecoderModel(config: config)
        decoder.initialize(seed: 3, std: 0.3)
        let names = decoder.parameters.setTrainable(matching: ["model.layers.1.mlp.*", "lm_head.weight"])
        #expect(names.count == 4)
        #expect(decoder.parameters.gradient("model.embed_tokens.weight") == nil)
        let trainable = decoder.parameters.table.filter { names.contains($0.name) }.reduce(0) { $0 + Arena.rounded($1.count) }
        #expect(decoder.parameters.gradients!.capacity == trainable)
    }
}
