import Data
import Foundation
import Model
import Tensor
import TestSupport
import Testing
@testable import Train

/// LoRA (`Model/Adapters/LoRA`): gradients, a fresh adapter, merging, PEFT's names, composing with
/// Wings, and exact resume.
struct LoRATests {
    static let config = DecoderConfig(modelType: "qwen2", hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
                                      intermediateSize: 12, vocabSize: 11, ropeTheta: 50, maxPositionEmbeddings: 16)
    static let lora = LoRAConfig(rank: 2, alpha: 4, targetModules: Projection.allCases)

    /// The layer input and every tensor, A and B of all seven projections included, against central differences.
    @Test func gradientsOfEveryTensorAndTheInput() {
        let decoder = ContinualPathTests.randomize(DecoderModel(config: Self.config, adapters: [Self.lora]), seed: 3)
        #expect(decoder.parameters.table.filter { $0.name.contains(".lora_") }.count == 2 * 7 * 2)
        decoder.parameters.setTrainable(matching: ["*"])
        var rng = SeededGenerator(seed: 4)
        let acts = decoder.makeActivations(batch: 2, sequence: 5)
        ContinualPathTests.textBatch(acts, vocabulary: Self.config.vocabSize, rng: &rng)
        DecoderGradientTests.expectExactGradients(decoder, acts, eps: AdapterProtocolTests.eps, label: "lora on every projection")
    }

    /// With Wings' learners attached too: both adapters' tensors and the input.
    @Test func composesWithWings() {
        let wings = WingsConfig(rank: 2, routerMaxKeys: 5)
        let config = DecoderConfig(modelType: "llama", hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2, numKeyValueHeads: 2,
                                   intermediateSize: 12, vocabSize: 11, ropeTheta: 50, maxPositionEmbeddings: 16)
        let decoder = ContinualPathTests.randomize(DecoderModel(config: config, adapters: [wings, LoRAConfig(rank: 2, alpha: 2, targetModules: [.q, .down])]), seed: 8)
        decoder.parameters.setTrainable(matching: ["*"])
        var rng = SeededGenerator(seed: 9)
        let acts = decoder.makeActivations(batch: 2, sequence: 5)
        ContinualPathTests.textBatch(acts, vocabulary: config.vocabSize, rng: &rng)
        DecoderGradientTests.expectExactGradients(decoder, acts, eps: AdapterProtocolTests.eps, label: "wings + lora")
    }

    /// PEFT's tensor names and shapes; a fresh adapter (B = 0) changes no logit, trained or cached.
    @Test func freshAdapterChangesNothing() throws {
        let plain = DecoderModel(config: Self.config)
        plain.initialize(seed: 9, std: 0.3)
        let adapted = plain.attaching(Self.lora, seed: 1)
        #expect(adapted.config.lora == Self.lora)
        #expect(adapted.parameters.contains("model.layers.1.self_attn.q_proj.lora_A.weight")
                && adapted.parameters.contains("model.layers.0.mlp.down_proj.lora_B.weight"))
        #expect(adapted.parameters.value("model.layers.0.mlp.down_proj.lora_A.weight").shape == [2, 12]
                && adapted.parameters.value("model.layers.0.self_attn.k_proj.lora_B.weight").shape == [4, 2])
        var rng = SeededGenerator(seed: 2)
        let a = plain.makeActivations(batch: 2, sequence: 5), b = adapted.makeActivations(batch: 2, sequence: 5)
        ContinualPathTests.textBatch(a, vocabulary: Self.config.vocabSize, rng: &rng)
        b.setBatch(tokens: (0..<10).map { a.tokens[$0] }, targets: (0..<10).map { a.targets[$0] }, attentionMask: (0..<10).map { a.attentionMask[$0] })
        plain.forward(a)
        adapted.forward(b)
        #expect(a.logits.array == b.logits.array)
        let ids: [Int32] = [1, 4, 7, 2]
        let c1 = try plain.makeCache(batch: 1, capacity: 4), c2 = try adapted.makeCache(batch: 1, capacity: 4)
        #expect(plain.forward(newTokens: ids, cache: c1).array == adapted.forward(newTokens: ids, cache: c2).array)
    }

    /// W + (α/r)·B·A in place of the adapter: the same logits within 1e-5, trained or cached; no
    /// LoRA tensor is left and the config forgets it.
    @Test func mergedEqualsUnmerged() throws {
        let decoder = ContinualPathTests.randomize(DecoderModel(config: Self.config, adapters: [Self.lora]), seed: 12)
        let merged = try #require(decoder.mergingLoRA())
        #expect(merged.config.lora == nil && !merged.parameters.table.contains { $0.name.contains("lora_") })
        var rng = SeededGenerator(seed: 13)
        let a = decoder.makeActivations(batch: 2, sequence: 5), b = merged.makeActivations(batch: 2, sequence: 5)
        ContinualPathTests.textBatch(a, vocabulary: Self.config.vocabSize, rng: &rng)
        b.setBatch(tokens: (0..<10).map { a.tokens[$0] }, targets: (0..<10).map { a.targets[$0] }, attentionMask: (0..<10).map { a.attentionMask[$0] })
        decoder.forward(a)
        merged.forward(b)
        let worst = zip(a.logits.array, b.logits.array).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "merged logits differ by \(worst)")
        let ids: [Int32] = [1, 4, 7, 2, 9]
        let c1 = try decoder.makeCache(batch: 1, capacity: 5), c2 = try merged.makeCache(batch: 1, capacity: 5)
        let cached = zip(decoder.forward(newTokens: ids, cache: c1).array, merged.forward(newTokens: ids, cache: c2).array).map { abs($0 - $1) }.max()!
        #expect(cached < 1e-5)
        #expect(DecoderModel(config: Self.config).mergingLoRA() == nil)
    }

    /// A stage without `trainable` trains LoRA alone (the base frozen) and resumes to the same
    /// losses; the checkpoint records `lora` in config.json and loads back with it.
    @Test func trainsAndResumesExactly() throws {
        let dir = TestPaths.temporaryDirectory("lora")
        try ToyWorld(seed: 5, entities: 6).write(to: dir + "/data", variants: 2)
        func recipe() throws -> Recipe {
            var yaml = TinyRecipe.yaml(directory: dir, pretrainSteps: 6, chatSteps: 4)
            yaml = yaml.replacingOccurrences(of: "model:\n", with: "model:\n  lora: {r: 4, lora_alpha: 8, target_modules: [q_proj, v_proj, down_proj]}\n")
            // pretrain trains the base alone; chat gives no `trainable`: with LoRA, LoRA alone trains.
            yaml = yaml.replacingOccurrences(of: "  - name: pretrain\n", with: "  - name: pretrain\n    trainable: [\"*\", \"!*lora_*\"]\n")
            return try RecipeLoader.decode(yaml, file: "lora.yaml")
        }
        var options = TrainOptions()
        options.log = { _ in }
        let full = try Trainer(recipe: try recipe(), options: options).run()
        options.overwrite = true
        options.stopAfterGlobalStep = 8
        _ = try Trainer(recipe: try recipe(), options: options).run()
        options.overwrite = false
        options.stopAfterGlobalStep = nil
        options.resume = true
        let resumed = try Trainer(recipe: try recipe(), options: options).run()
        #expect(resumed.losses == Array(full.losses.suffix(resumed.losses.count)) && resumed.losses.count == 2, "\(resumed.losses) vs \(full.losses)")
        let latest = try #require(try Checkpoint.latest(outputDir: dir + "/out"))
        let loaded = try LoadedModel(directory: latest)
        #expect(loaded.decoder.config.lora?.rank == 4 && loaded.decoder.adapters.contains { $0 is LoRAAdapter })
        // The base stayed frozen through the LoRA stage; the adapters moved (B left zero).
        let before = try LoadedModel(directory: dir + "/out/checkpoints/pretrain-step6").decoder.parameters
        let after = loaded.decoder.parameters
        for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight"] {
            #expect(before.value(name).array == after.value(name).array, "\(name) changed")
        }
        #expect(before.value("model.layers.0.self_attn.v_proj.lora_B.weight").array.allSatisfy { $0 == 0 })
        #expect(after.value("model.layers.0.self_attn.v_proj.lora_B.weight").array.contains { $0 != 0 })
    }

    /// Attached in either order, the adapters lie in the config's order (Wings, then LoRA), as a
    /// decoder loaded from the same config.json lays them, and every tensor keeps its value.
    @Test func attachingOrderIsTheConfigs() {
        let base = DecoderModel(config: Self.config)
        base.initialize(seed: 5, std: 0.3)
        let withLoRA = base.attaching(Self.lora, seed: 6)
        let a = withLoRA.parameters.value("model.layers.1.mlp.up_proj.lora_A.weight").array
        let both = withLoRA.attaching(WingsConfig(rank: 2, routerMaxKeys: 5), seed: 7)
        #expect(both.parameters.table.map(\.name) == DecoderModel(config: both.config).parameters.table.map(\.name))
        #expect(both.adapters.first is WingsAdapter && both.adapters.last is LoRAAdapter)
        #expect(both.parameters.value("model.layers.1.mlp.up_proj.lora_A.weight").array == a)
    }

    /// config.json's `lora`: PEFT's "all-linear"; PEFT's switches only at their neutral values;
    /// an empty layer list refused; each message names the file and key.
    @Test func configKeys() throws {
        let dir = TestPaths.temporaryDirectory("lora-config")
        func load(_ lora: String) -> String {
            let path = dir + "/config.json"
            let json = #"{"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 12, "vocab_size": 11, "lora": "# + lora + "}"
            try! json.write(toFile: path, atomically: true, encoding: .utf8)
            do { return "\(try DecoderConfig.load(path: path).lora!.targetModules.count) modules" } catch { return "\(error)" }
        }
        #expect(load(#"{"r": 2, "lora_alpha": 4, "target_modules": "all-linear", "use_rslora": false, "bias": "none"}"#) == "7 modules")
        #expect(load(#"{"r": 2, "target_modules": ["q_proj"], "use_rslora": true}"#).contains("config.json: 'lora.use_rslora' is 1: not supported (only its default)"))
        #expect(load(#"{"r": 2, "target_modules": ["q_proj"], "megabytes": 3}"#).contains("'lora.megabytes' is not a LoRA key"))
        #expect(load(#"{"r": 2, "target_modules": "attention"}"#).contains("'attention': give a list of q_proj"))
        #expect(load(#"{"r": 2, "layers_to_transform": []}"#).contains("'lora.layers_to_transform' is empty"))
    }
}
