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

    /// A recipe trains LoRA alone (the base frozen) and resumes to the same losses; the checkpoint
    /// records `lora` in config.json and loads back with it.
    @Test func trainsAndResumesExactly() throws {
        let dir = TestPaths.temporaryDirectory("lora")
        try ToyWorld(seed: 5, entities: 6).write(to: dir + "/data", variants: 2)
        func recipe() throws -> Recipe {
            var yaml = TinyRecipe.yaml(directory: dir, pretrainSteps: 6, chatSteps: 4)
            yaml = yaml.replacingOccurrences(of: "model:\n", with: "model:\n  lora: {r: 4, lora_alpha: 8, target_modules: [q_proj, v_proj, down_proj]}\n")
            yaml = yaml.replacingOccurrences(of: "  - name: chat\n", with: "  - name: chat\n    trainable: [\"*lora_*\"]\n")
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
    }
}
