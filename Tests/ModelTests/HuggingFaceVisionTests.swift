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

    /// `convert hf` then `export hf` gives back the published directory's tensors, identical by
    /// name, shape and value, for either input layout (the export writes save_pretrained's),
    /// and the configs transformers reads.
    @Test(arguments: ["llava-tiny", "llava-tiny-other-layout"])
    func convertThenExportRoundTrips(_ name: String) throws {
        let source = Self.root + "/" + name, converted = TestPaths.temporaryDirectory("convert"), exported = TestPaths.temporaryDirectory("export")
        _ = try HuggingFaceImport.convert(directory: source, to: converted)
        let native = try SafeTensorsCheckpoint(directory: converted)
        #expect(WeightLayout.detect(native.names) == .native)
        #expect(native.names.contains("model.embed_tokens.weight") && native.names.contains("vision_tower.vision_model.post_layernorm.weight"))
        _ = try HuggingFaceExport.export(LoadedModel(directory: converted), source: converted, to: exported)
        let original = try SafeTensorsCheckpoint(directory: Self.root + "/llava-tiny")  // the save_pretrained layout
        let written = try SafeTensorsCheckpoint(directory: exported)
        #expect(written.names == original.names)
        for n in original.names {
            #expect(try written.info(n).shape == original.info(n).shape, "\(n)")
            #expect(try written.floats(n) == original.floats(n), "\(n) differs")
        }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: exported + "/config.json"))) as! [String: Any]
        #expect(config["model_type"] as? String == "llava" && config["projector_hidden_act"] as? String == "gelu")
        #expect(config["image_token_index"] as? Int == 3 && config["image_seq_length"] as? Int == 25)
        #expect((config["vision_config"] as? [String: Any])?["hidden_act"] as? String == "quick_gelu")
        #expect(try ImageProcessorConfig.load(directory: exported) == ImageProcessorConfig.load(directory: source))
        // The exported directory loads here as well and generates what the original does.
        let c = try #require((try Self.load("llava_cases.json") as LlavaCases).cases.first { $0.image != nil })
        let record = try Generator.complete(LoadedModel(directory: exported), prompt: .text(c.prompt), image: Self.root + "/" + c.image!,
                                            maxNewTokens: 10, options: SamplingOptions()) { _ in }
        #expect(record.generatedIDs == c.generatedIDs)
    }

    /// Tensors transformers has no place for are refused, or written beside the model on request.
    @Test func exportRefusesAdaptersUnlessBeside() throws {
        let converted = TestPaths.temporaryDirectory("convert")
        _ = try HuggingFaceImport.convert(directory: Self.root + "/llava-tiny", to: converted)
        let model = try LoadedModel(directory: converted)
        let withWings = model.multimodal!.attaching(WingsConfig(rank: 2, routerMaxKeys: 64), seed: 1)
        let dir = TestPaths.temporaryDirectory("wings")
        try withWings.save(to: dir)
        try model.tokenizer.save(into: dir)
        let loaded = try LoadedModel(directory: dir)
        let out = TestPaths.temporaryDirectory("export")
        var m = "no error"
        do { _ = try HuggingFaceExport.export(loaded, source: dir, to: out) } catch { m = "\(error)" }
        #expect(m.contains("Wings") && m.contains("--adapters-beside"), "\(m)")
        let summary = try HuggingFaceExport.export(loaded, source: dir, to: out, adaptersBeside: true)
        #expect(summary.besideTensors > 0)
        let beside = try SafeTensorsFile(path: out + "/" + HuggingFaceExport.adaptersFile)
        #expect(beside.tensors.allSatisfy { $0.name.contains("wings") })
        #expect(try SafeTensorsCheckpoint(directory: out).names.allSatisfy { !$0.contains("wings") })
    }

    /// A full CLIPModel's text half and a SigLIP tower's pooling head are left unread; a
    /// standalone tower's tensors all load.
    @Test func pretrainedTowerReadsTheVisionHalf() throws {
        let full = try PretrainedTower.open(Self.root + "/clip-full-tiny")
        #expect(full.description.contains("CLIPModel") && full.config.numHiddenLayers == 2)
        let siglip = try PretrainedTower.open(Self.root + "/siglip-vision-tiny")
        #expect(!siglip.config.hasClassToken && siglip.processor?.imageProcessorType == "SiglipImageProcessor")
    }

    /// llava-hf's processor chat template is recognised: `--chat` renders "USER: <image>\n{q} ASSISTANT:"
    /// with the tokenizer's BOS, as `apply_chat_template` then the LlavaProcessor do.
    @Test func llavaChatTemplateFramesAsTheProcessor() throws {
        let fixture: LlavaCases = try Self.load("llava_cases.json")
        let c = try #require(fixture.cases.first { $0.prompt == "USER: <image>\nWhat shape do you see? ASSISTANT:" })
        let model = try LoadedModel(directory: Self.root + "/llava-tiny")
        #expect(try ChatFormat.resolve(nil, tokenizer: model.tokenizer).template == .llava)
        let record = try Generator.complete(model, prompt: .chat("What shape do you see?", .auto), image: Self.root + "/" + c.image!,
                                            maxNewTokens: 10, options: SamplingOptions()) { _ in }
        #expect(record.promptIDs == c.inputIDs)
        #expect(record.generatedIDs == c.generatedIDs)
    }

    /// OpenAI's CLIP directories write `"size": 224, "crop_size": 224`: the shortest edge and a square crop.
    @Test func integerSizesMeanShortestEdgeAndSquareCrop() throws {
        let json = #"{"image_processor_type": "CLIPImageProcessor", "size": 30, "crop_size": 30, "do_center_crop": true}"#
        let config = try JSONDecoder().decode(ImageProcessorConfig.self, from: Data(json.utf8))
        #expect(config.size == .init(shortestEdge: 30) && config.cropSize == .init(height: 30, width: 30))
        let reference = try #require(try ImageProcessorConfig.load(directory: Self.root + "/clip-vision-tiny"))
        let image = try ImageDecoder.decode(path: Self.root + "/images/wide_37x23.png")
        #expect(try ImagePreprocessor(config: config, file: "x").pixels(image) == ImagePreprocessor(config: reference, file: "y").pixels(image))
    }

    /// A crop larger than the image (no resize) centres it on zeros, as transformers' `center_crop`;
    /// a crop larger than a fixed resize is refused.
    @Test func cropLargerThanTheImagePadsWithZeros() throws {
        var config = ImageProcessorConfig.clip(side: 4)
        config.doResize = false
        let pre = try ImagePreprocessor(config: config, file: "p.json")
        let image = RGBImage(width: 3, height: 2, pixels: [UInt8](repeating: 200, count: 18))
        let out = pre.pixels(image)
        // pad ⌈(4−2)/2⌉ = 1 row above, ⌈(4−3)/2⌉ = 1 column left: rows 1...2, columns 1...3 hold the image
        for y in 0..<4 { for x in 0..<4 {
            #expect(out.pixels[(y * 4 + x) * 3] == ((1...2).contains(y) && (1...3).contains(x) ? 200 : 0), "(\(x), \(y))")
        } }
        var fixed = ImageProcessorConfig.siglip(side: 16)
        fixed.doCenterCrop = true
        fixed.cropSize = .init(height: 20, width: 20)
        var m = "no error"
        do { _ = try ImagePreprocessor(config: fixed, file: "p.json") } catch { m = "\(error)" }
        #expect(m.contains("p.json: 'crop_size' 20x20 is larger than the resized 16x16"), "\(m)")
    }

    /// `image_aspect_ratio: square` turns off the pad of this project's own pipeline.
    @Test func squareAspectRatioDoesNotPad() {
        let pre = ImagePreprocessor.legacy(size: 4, mean: ImageProcessorConfig.clipMean, std: ImageProcessorConfig.clipStd, padToSquare: false)
        let white = RGBImage(width: 4, height: 2, pixels: [UInt8](repeating: 255, count: 24))
        let out = pre.process(white)
        #expect(abs(out[0] - (1 - pre.mean[0]) / pre.std[0]) < 1e-4, "row 0 is the (stretched) image, not padding")
    }
}

