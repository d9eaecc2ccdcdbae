import Data
import Foundation
import Infer
import Model
import SafeTensors
import TestSupport
import Testing
import Tokenizer

/// Hugging Face vision towers and LLaVA checkpoints as `save_pretrained` writes them, against
/// transformers' own outputs (scripts/fixtures/make_vision_fixtures.py): every hidden state of
/// CLIP (quick_gelu), SigLIP and a full CLIPModel's vision half, CLIPImageProcessor and
/// SiglipImageProcessor to the pixel, LLaVA's greedy ids in both tensor layouts, and
/// `convert hf` / `export hf` round trips.
struct HuggingFaceVisionTests {
    struct Array32: Decodable { let shape: [Int]; let data: [Float] }
    struct Tower: Decodable {
        let pixelValues: Array32
        let hiddenStates: [Array32]
        let lastHiddenState: Array32
        let poolerOutput: Array32?
        enum CodingKeys: String, CodingKey {
            case pixelValues = "pixel_values", hiddenStates = "hidden_states", lastHiddenState = "last_hidden_state", poolerOutput = "pooler_output"
        }
    }
    struct PreprocessCase: Decodable {
        let image: String, pipeline: String
        let resizedUint8: Array32, pixelValues: Array32
        enum CodingKeys: String, CodingKey { case image, pipeline, resizedUint8 = "resized_uint8", pixelValues = "pixel_values" }
    }
    struct PreprocessCases: Decodable { let cases: [PreprocessCase] }
    struct LlavaCase: Decodable {
        let prompt: String, image: String?
        let inputIDs: [Int32], generatedIDs: [Int32]
        let pixelValues: Array32?
        let firstLogits: Array32
        enum CodingKeys: String, CodingKey {
            case prompt, image, inputIDs = "input_ids", generatedIDs = "generated_ids", pixelValues = "pixel_values", firstLogits = "first_logits"
        }
    }
    struct LlavaCases: Decodable { let cases: [LlavaCase] }

    static let root = TestPaths.fixture("hf-vision")
    static func load<T: Decodable>(_ name: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/" + name)))
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// Every entry of `hidden_states` (0: the embeddings, after CLIP's pre-LayerNorm; i: after block
    /// i), `last_hidden_state` (SigLIP's through post_layernorm) and CLIP's `pooler_output`, within
    /// 1e-5 of transformers, for the same pixels.
    @Test(arguments: ["clip-vision-tiny", "siglip-vision-tiny", "clip-full-tiny"])
    func towerHiddenStatesEqualTransformers(_ name: String) throws {
        let cases: [String: Tower] = try JSONDecoder().decode([String: Tower].self, from: {
            let o = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.root + "/tower_cases.json"))) as! [String: Any]
            return try JSONSerialization.data(withJSONObject: o.filter { $0.value is [String: Any] })
        }())
        let reference = try #require(cases[name])
        let tower = try PretrainedTower.open(Self.root + "/" + name)
        #expect(tower.config.hiddenAct == (name.hasPrefix("siglip") ? .geluTanh : .quickGELU))
        #expect(tower.config.postLayerNorm)
        let B = reference.pixelValues.shape[0]
        for layer in 0...tower.config.numHiddenLayers {
            let encoder = VisionEncoder(config: tower.config, selectLayer: layer, keepClassToken: true)
            try tower.load(into: encoder)
            let acts = encoder.makeActivations(batch: B)
            acts.pixels.copy(from: reference.pixelValues.data)
            encoder.forward(acts)
            let expected = reference.hiddenStates[layer]
            #expect(acts.features.shape == expected.shape)
            let d = Self.maxDifference(acts.features.array, expected.data)
            #expect(d < 1e-5, "\(name): hidden_states[\(layer)] differs by \(d)")
            if layer == tower.config.numHiddenLayers {
                let last = Self.maxDifference(encoder.lastHiddenState(acts), reference.lastHiddenState.data)
                #expect(last < 1e-5, "\(name): last_hidden_state differs by \(last)")
                if tower.config.hasClassToken, let pooled = reference.poolerOutput {
                    let p = Self.maxDifference(try #require(encoder.pooledOutput(acts)), pooled.data)
                    #expect(p < 1e-5, "\(name): pooler_output differs by \(p)")
                }
            }
        }
    }

    /// CLIPImageProcessor (resize the shortest edge, centre crop), SiglipImageProcessor (fixed
    /// size) and LLaVA-1.5's pad-to-square before CLIP's: the 8-bit image before normalising
    /// equals Pillow's to the pixel, the pixel values transformers' within 1e-6.
    @Test func preprocessingEqualsPillowAndTransformers() throws {
        let fixture: PreprocessCases = try Self.load("preprocess_cases.json")
        #expect(fixture.cases.count >= 12)
        for c in fixture.cases {
            let directory = Self.root + "/" + (c.pipeline == "siglip" ? "siglip-vision-tiny" : "clip-vision-tiny")
            let config = try #require(try ImageProcessorConfig.load(directory: directory))
            let pre = try ImagePreprocessor(config: config, padToSquare: c.pipeline == "llava_pad", file: directory)
            let image = try ImageDecoder.decode(path: Self.root + "/" + c.image)
            let pixels = pre.pixels(image)
            #expect([pixels.height, pixels.width, 3] == c.resizedUint8.shape, "\(c.pipeline) \(c.image)")
            let wrong = zip(pixels.pixels, c.resizedUint8.data).filter { Float($0) != $1 }.count
            #expect(wrong == 0, "\(c.pipeline) \(c.image): \(wrong) of \(pixels.pixels.count) bytes differ from Pillow")
            let d = Self.maxDifference(pre.process(image), c.pixelValues.data)
            #expect(d < 1e-6, "\(c.pipeline) \(c.image): pixel values differ by \(d)")
        }
    }

    /// LlavaForConditionalGeneration in both tensor layouts: the prompt's ids after `<image>` is
    /// expanded equal the LlavaProcessor's, and greedy ids equal `model.generate`'s, for every
    /// image prompt and the text-only one.
    @Test(arguments: ["llava-tiny", "llava-tiny-other-layout"])
    func llavaGreedyIdsEqualTransformers(_ name: String) throws {
        let fixture: LlavaCases = try Self.load("llava_cases.json")
        let model = try LoadedModel(directory: Self.root + "/" + name)
        let m = try #require(model.multimodal)
        #expect(m.config.projectorHiddenAct == .gelu && m.config.visionConfig.hiddenAct == .quickGELU)
        #expect(m.imageTokens == 25)
        for c in fixture.cases {
            let record = try Generator.complete(model, prompt: .text(c.prompt), image: c.image.map { Self.root + "/" + $0 },
                                                maxNewTokens: 10, options: SamplingOptions()) { _ in }
            #expect(record.promptIDs == c.inputIDs, "\(name): prompt ids of \(c.prompt.debugDescription)")
            #expect(record.generatedIDs == c.generatedIDs, "\(name): greedy ids of \(c.prompt.debugDescription)")
            if let image = c.image, let reference = c.pixelValues {
                let pixels = m.config.imagePreprocessor.process(try ImageDecoder.decode(path: Self.root + "/" + image))
                #expect(Self.maxDifference(pixels, reference.data) < 1e-6)
            }
        }
    }
}
