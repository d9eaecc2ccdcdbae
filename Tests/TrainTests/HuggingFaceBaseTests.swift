import Data
import Eval
import Foundation
import Model
import TestSupport
import Testing
import Tokenizer
import Train

/// A Hugging Face directory as published, as a recipe's `model.base`: the stage renders its
/// conversations in the model's own chat template, and every checkpoint keeps the tokenizer's
/// files and `generation_config.json`, so it encodes, frames and stops as the base did.
struct HuggingFaceBaseTests {
    let dir = TestPaths.temporaryDirectory("hf-base")

    init() throws {
        try ToyWorld(seed: 5, entities: 6).write(to: dir + "/data", variants: 2)
    }

    func train(base: String, extra: String = "") throws -> String {
        let yaml = """
            model:
              base: \(TestPaths.fixture("hf/" + base))
            \(extra)
            output_dir: \(dir)/\(base)
            seed: 2
            stages:
              - name: chat
                data:
                  - path: \(dir)/data/conversations.json
                per_device_train_batch_size: 2
                model_max_length: 96
                max_steps: 2
                learning_rate: 1.0e-3
            """
        var o = TrainOptions()
        o.log = { _ in }
        let summary = try Trainer(recipe: try RecipeLoader.decode(yaml, file: "hf.yaml"), options: o).run()
        #expect(summary.losses.count == 2 && summary.losses.allSatisfy(\.isFinite))
        return try #require(summary.finalCheckpoint)
    }

    @Test(arguments: ["qwen2-tiny", "llama-tiny"])
    func trainsAndKeepsTheBasesRules(base: String) throws {
        let checkpoint = try train(base: base, extra: base == "llama-tiny" ? "special_tokens: [\"<image>\"]" : "")
        let original = try LoadedModel(directory: TestPaths.fixture("hf/" + base)), trained = try LoadedModel(directory: checkpoint)
        #expect(trained.stopTokens == original.stopTokens && trained.generation == original.generation)
        let text = "<s>[INST] Hi <|im_end|> ünïcödé 123"
        #expect(trained.tokenizer.encode(text) == original.tokenizer.encode(text))
        let format = try ChatFormat.resolve(nil, tokenizer: trained.tokenizer)
        #expect(format == (try ChatFormat.resolve(nil, tokenizer: original.tokenizer)))
        #expect(format.template == (base == "llama-tiny" ? .llama2 : .chatml))
        // The stage's samples were rendered in that template (its text starts as the template's does).
        let sample = try format.tokenize([Turn(.human, "q"), Turn(.gpt, "a")], tokenizer: trained.tokenizer, sampleName: "s")
        #expect(trained.tokenizer.decode(sample.tokens).hasPrefix(base == "llama-tiny" ? "<s>[INST] q [/INST]" : "<|im_start|>system\nYou are a helpful assistant."))
    }

    /// A model from Hugging Face parts (recipes/hf-parts.yaml's shape): a text checkpoint as
    /// `model.base`, a SigLIP directory as `model.vision.base`, a new projector; an align stage
    /// trains the projector alone, so the tower keeps the pretrained weights, and the checkpoint
    /// carries the tower's preprocessor and reloads as a multimodal model.
    @Test func alignsAModelFromHuggingFaceParts() throws {
        try ToyScenes(seed: 3, count: 12).write(to: dir + "/scenes")
        let yaml = """
            model:
              base: \(TestPaths.fixture("hf/qwen2-tiny"))
              vision:
                base: \(TestPaths.fixture("hf-vision/siglip-vision-tiny"))
            special_tokens: ["<image>"]
            output_dir: \(dir)/parts
            seed: 2
            stages:
              - name: align
                kind: align
                data:
                  - path: \(dir)/scenes/captions.json
                per_device_train_batch_size: 2
                model_max_length: 64
                max_steps: 3
                learning_rate: 1.0e-3
            eval:
              suites:
                - {name: scenes, path: \(dir)/scenes-suite/en.jsonl, mode: continuation, metric: acc}
            """
        try ToyScenes(seed: 4, count: 4).writeSuite(to: dir + "/scenes-suite", range: 0..<4, languages: ["en"])
        var o = TrainOptions()
        var lines: [String] = []
        o.log = { lines.append($0) }
        let summary = try Trainer(recipe: try RecipeLoader.decode(yaml, file: "parts.yaml"), options: o).run()
        #expect(summary.losses.count == 3 && summary.losses.allSatisfy(\.isFinite))
        #expect(lines.contains { $0.contains("vision: SiglipVisionModel from") && $0.contains("gelu_pytorch_tanh") })
        #expect(lines.contains { $0.contains("eval after stage 'align'") && $0.contains("scenes acc") }, "\(lines)")
        let trained = try LoadedModel(directory: try #require(summary.finalCheckpoint))
        let m = try #require(trained.multimodal)
        #expect(m.config.imageProcessor?.imageProcessorType == "SiglipImageProcessor" && m.config.projectorHiddenAct == .gelu)
        let tower = try PretrainedTower.open(TestPaths.fixture("hf-vision/siglip-vision-tiny"))
        let pretrained = VisionEncoder(config: tower.config)
        try tower.load(into: pretrained)
        #expect(m.encoder.parameters.values.all.array == pretrained.parameters.values.all.array, "align leaves the tower as loaded")
    }

    @Test func visionNeedsExactlyOneOfArchitectureAndBase() throws {
        let yaml = """
            model:
              base: \(TestPaths.fixture("hf/qwen2-tiny"))
              vision:
                base: \(TestPaths.fixture("hf-vision/siglip-vision-tiny"))
                architecture: {hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, image_size: 16, patch_size: 8}
            output_dir: \(dir)/both
            stages:
              - name: align
                kind: align
                data:
                  - path: \(dir)/x.json
                per_device_train_batch_size: 1
                model_max_length: 16
                max_steps: 1
                learning_rate: 1.0e-3
            """
        var m = "no error"
        do { _ = try RecipeLoader.decode(yaml, file: "both.yaml") } catch { m = "\(error)" }
        #expect(m.contains("both.yaml") && m.contains("exactly one of 'architecture'"), "\(m)")
    }
}

