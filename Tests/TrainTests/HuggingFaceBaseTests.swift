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
}
