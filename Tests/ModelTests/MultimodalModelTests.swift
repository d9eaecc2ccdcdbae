import Foundation
import Model
import Tensor
import TestSupport
import Testing

struct MultimodalModelTests {
    func model() -> MultimodalModel {
        let text = DecoderConfig(hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 24, vocabSize: 20, maxPositionEmbeddings: 32)
        let vision = VisionConfig(hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, imageSize: 8, patchSize: 4)
        let m = MultimodalModel(config: MultimodalConfig(textConfig: text, visionConfig: vision, imageTokenIndex: 19))
        m.decoder.initialize(seed: 1)
        m.encoder.initialize(seed: 2)
        m.projector.initialize(seed: 3)
        return m
    }

    /// One config.json and one model.safetensors; loads back bit for bit, and its language
    /// model loads alone for text-only evaluation.
    @Test func checkpointRoundTrip() throws {
        let m = model()
        let dir = TestPaths.temporaryDirectory("mm")
        try m.save(to: dir)
        #expect(MultimodalModel.isMultimodal(directory: dir))
        let again = try MultimodalModel.load(dir)
        #expect(again.config == m.config && again.imageTokens == 4)
        for (a, b) in zip(m.parameterSets, again.parameterSets) {
            #expect(a.values.all.array.map(\.bitPattern) == b.values.all.array.map(\.bitPattern))
        }
        let lm = try ModelDirectory.loadDecoder(dir)
        #expect(lm.config == m.config.textConfig && lm.parameters.values.all.array == m.decoder.parameters.values.all.array)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
        #expect(json["model_type"] as? String == "llava" && json["text_config"] != nil && json["vision_config"] != nil)
    }

    /// A checkpoint saved before the activation keys (config.json with `mm_projector_type` but no
    /// `projector_hidden_act`, `image_seq_length` or `multimodal_projector_bias`; the tower's
    /// `hidden_act` written as gelu_pytorch_tanh; no preprocessor_config.json) loads with the tanh
    /// GELU in both places and this project's own image preprocessing: it computes what it did.
    @Test func checkpointFromBeforeTheActivationKeysComputesTheSame() throws {
        var c = model().config
        c.projectorHiddenAct = .geluTanh
        c.visionConfig.hiddenAct = .geluTanh
        let m = MultimodalModel(config: c)
        m.decoder.initialize(seed: 1); m.encoder.initialize(seed: 2); m.projector.initialize(seed: 3)
        let dir = TestPaths.temporaryDirectory("mm-old")
        try m.save(to: dir)
        let path = dir + "/config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        for key in ["projector_hidden_act", "image_seq_length", "multimodal_projector_bias"] { json[key] = nil }
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        let old = try MultimodalModel.load(dir)
        #expect(old.config.projectorHiddenAct == .geluTanh && old.config.visionConfig.hiddenAct == .geluTanh)
        #expect(old.config.imageProcessor == nil && old.config.imagePreprocessor == .legacy(size: 8, mean: c.imageMean, std: c.imageStd))
        let a = m.makeImageEncoding(images: 1, maxGuidance: 1), b = old.makeImageEncoding(images: 1, maxGuidance: 1)
        for i in 0..<a.vision.pixels.count { a.vision.pixels[i] = Float(i % 7) / 7 - 0.5; b.vision.pixels[i] = a.vision.pixels[i] }
        #expect(m.visualTokens(a, guidance: nil).tokens.array == old.visualTokens(b, guidance: nil).tokens.array)
    }

    @Test func badMultimodalConfigNamesTheKey() throws {
        let dir = TestPaths.temporaryDirectory("mmbad")
        try model().save(to: dir)
        let path = dir + "/config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        json["image_token_index"] = 99
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        do { _ = try MultimodalModel.load(dir); Issue.record("expected an error") } catch {
            #expect("\(error)".contains("'image_token_index' 99 is outside the vocabulary of 20"), "\(error)")
        }
    }

    /// Text-only rows of a batch train exactly as the decoder alone would: no image, no splice.
    @Test func textOnlyBatchMatchesTheDecoder() {
        let m = model()
        let acts = m.makeActivations(batch: 1, sequence: 6)
        let tokens: [Int32] = [1, 5, 6, 7, 8, 2]
        acts.text.setBatch(tokens: tokens, targets: Array(tokens.dropFirst()) + [-100])
        acts.resetImages()
        m.forward(acts)
        let plain = DecoderActivations(config: m.config.textConfig, batch: 1, sequence: 6)
        plain.setBatch(tokens: tokens, targets: Array(tokens.dropFirst()) + [-100])
        m.decoder.forward(plain)
        #expect(acts.text.logits.array == plain.logits.array)
    }
}
