import Data
import Foundation
import Model
import Tensor
import TestSupport
import Testing
import Tokenizer
@testable import Train

/// Class-incremental learning: the recipe's `cil` block, the scorers, the prototypes and exact
/// resume inside a sequence.
struct ClassIncrementalTests {
    let dir = TestPaths.temporaryDirectory("cil")

    /// A tiny multimodal decoder and tower learning the scene classes, `tasks` of two classes.
    func recipe(classifier: String = "generative", steps: Int = 4, extra: String = "") -> String {
        """
        model:
          architecture: {model_type: llama, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
                         intermediate_size: 64, vocab_size: 521, max_position_embeddings: 96}
          vision:
            architecture: {hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, image_size: 16, patch_size: 8}
            mm_projector_type: mlp2x_gelu
        tokenizer: \(TestPaths.root)/tokenizers/toyworld.model
        output_dir: \(dir)/out
        seed: 5
        cil:
          data: \(dir)/classes
          protocol: B0-Inc2
          classifier: \(classifier)
          test_per_class: 2
          max_new_tokens: 4
          stage:
            template: chatml
            per_device_train_batch_size: 4
            model_max_length: 48
            max_steps: \(steps)
            learning_rate: 3.0e-3
            save_steps: 2
        \(extra)
        """
    }

    func prepare(classes: Int = 18) throws {
        try ToyScenes.writeImageFolder(to: dir + "/classes", seed: 9, train: 4, test: 2)
        // Keep the first `classes` class folders.
        for split in ["train", "test"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: "\(dir)/classes/\(split)").sorted().dropFirst(classes) {
                try FileManager.default.removeItem(atPath: "\(dir)/classes/\(split)/\(name)")
            }
        }
    }

    /// The block expands into one stage per task: the classes of the seeded order, and the
    /// earlier classes' exemplars with exemplars_per_class.
    @Test func theBlockExpandsIntoOneStagePerTask() throws {
        try prepare(classes: 6)
        let recipe = try RecipeLoader.decode(self.recipe(extra: "").replacingOccurrences(of: "  max_new_tokens: 4", with: "  max_new_tokens: 4\n  exemplars_per_class: 1"),
                                             file: "cil.yaml")
        #expect(recipe.stages.map(\.name) == ["task1", "task2", "task3"])
        let folder = try ImageClassFolder(root: dir + "/classes")
        let order = ClassIncrementalProtocol.classOrder(count: 6, seed: 1993).map { folder.classes[$0] }
        for (t, stage) in recipe.stages.enumerated() {
            #expect(stage.kind == .instruct && stage.data[0].classes == Array(order[(2 * t)..<(2 * t + 2)]))
            #expect(stage.data.count == (t == 0 ? 1 : 2))
            if t > 0 { #expect(stage.data[1].classes == Array(order[..<(2 * t)]) && stage.data[1].perClass == 1) }
        }
        #expect(recipe.cil?.classifier == .generative)
        let both = self.recipe() + "\nstages: []\n"
        #expect(throws: RecipeError.self) { _ = try RecipeLoader.decode(both, file: "cil.yaml") }
        #expect(throws: RecipeError.self) { _ = try RecipeLoader.decode(self.recipe().replacingOccurrences(of: "B0-Inc2", with: "B0-Inc0"), file: "cil.yaml") }
    }

    /// The generative scorer: the name after the answer's prefix, and the nearest class by cosine.
    @Test func theNearestNameScorer() throws {
        try prepare(classes: 4)
        let spec = try RecipeLoader.decode(recipe(), file: "cil.yaml").cil!
        let evaluation = try ClassIncrementalEvaluation(spec: spec, outputDir: dir + "/out", log: { _ in })
        #expect(evaluation.extractName("This is a photo of a red circle.") == "red circle")
        #expect(evaluation.extractName(" this is a photo of a blue square. And more") == "blue square")
        #expect(evaluation.extractName("green\nsquare") == "green")
        let classes: [[Float]?] = [[1, 0, 0], [0, 1, 0], nil, [0.6, 0.8, 0]]
        #expect(ClassIncrementalEvaluation.nearest([0.9, 0.1, 0], among: classes) == 0)
        #expect(ClassIncrementalEvaluation.nearest([0.5, 0.9, 0], among: classes) == 3)
        #expect(ClassIncrementalEvaluation.nearest([0, 0, 1], among: [nil, nil]) == nil)
    }

    /// SimpleCIL's features are the mean of the tower's selected features, image by image.
    @Test func prototypesAreTheMeanTowerFeatures() throws {
        try prepare(classes: 2)
        let spec = try RecipeLoader.decode(recipe(classifier: "prototype"), file: "cil.yaml").cil!
        let evaluation = try ClassIncrementalEvaluation(spec: spec, outputDir: dir + "/out", log: { _ in })
        let config = MultimodalConfig(textConfig: DecoderConfig(hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 16,
                                                                vocabSize: 521, maxPositionEmbeddings: 64),
                                      visionConfig: VisionConfig(hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2,
                                                                 imageSize: 16, patchSize: 8), imageTokenIndex: 520)
        let m = MultimodalModel(config: config)
        m.encoder.initialize(seed: 3, std: 0.3)
        let paths = try evaluation.folder.images(split: "train", class: evaluation.folder.classes[0])
        let features = try evaluation.imageFeatures(paths, m)
        // By hand: one image at a time through the tower, the mean over its F features.
        let acts = m.encoder.makeActivations(batch: 1), F = m.imageTokens, C = 8
        for (i, path) in paths.enumerated() {
            m.config.imagePreprocessor.process(try ImageDecoder.decode(path: path), into: acts.pixels.data)
            m.encoder.forward(acts)
            for j in 0..<C {
                let mean = (0..<F).reduce(0.0) { $0 + Double(acts.features.data[$1 * C + j]) } / Double(F)
                #expect(abs(Double(features[i][j]) - mean) < 1e-5)
            }
        }
        let prototype = evaluation.mean(features)
        #expect(abs(prototype[0] - features.map { $0[0] }.reduce(0, +) / Float(features.count)) < 1e-6)
    }

    /// A sequence interrupted inside its second task resumes to the same losses and scores.
    @Test func resumeInsideASequenceIsExact() throws {
        try prepare(classes: 4)
        var options = TrainOptions()
        options.log = { _ in }
        let full = try Trainer(recipe: try RecipeLoader.decode(recipe(), file: "cil.yaml"), options: options).run()
        let fullReport = try String(contentsOfFile: dir + "/out/cil/report.json", encoding: .utf8)
        #expect(full.losses.count == 8)
        options.overwrite = true
        options.stopAfterGlobalStep = 6  // task2, step 2 of 4 (saved: step 2)
        _ = try Trainer(recipe: try RecipeLoader.decode(recipe(), file: "cil.yaml"), options: options).run()
        options.overwrite = false
        options.stopAfterGlobalStep = nil
        options.resume = true
        let resumed = try Trainer(recipe: try RecipeLoader.decode(recipe(), file: "cil.yaml"), options: options).run()
        #expect(resumed.losses == Array(full.losses.suffix(2)), "\(resumed.losses) vs \(full.losses)")
        #expect(try String(contentsOfFile: dir + "/out/cil/report.json", encoding: .utf8) == fullReport)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/continual.json"))) as? [String: Any]
        #expect((report?["accuracy"] as? [[Double]])?.count == 2 && report?["average_accuracy"] is Double)
    }
}
