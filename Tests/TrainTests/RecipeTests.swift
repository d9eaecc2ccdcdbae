import Data
import Model
import Foundation
import TestSupport
import Testing
import Train

struct RecipeTests {
    let dir = TestPaths.temporaryDirectory("recipe")

    init() throws {
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        for f in ["corpus.jsonl", "conversations.json"] { FileManager.default.createFile(atPath: dir + "/data/" + f, contents: Data()) }
    }

    func error(_ yaml: String, overrides: [String] = []) -> String {
        do {
            _ = try RecipeLoader.decode(yaml, file: "recipe.yaml", overrides: overrides)
            return "no error"
        } catch { return "\(error)" }
    }

    /// The 1-based line of the first line of `yaml` containing `text`.
    func line(_ yaml: String, _ text: String) -> Int {
        yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(text) }! + 1
    }

    @Test func validRecipeDecodesWithDefaults() throws {
        let r = try RecipeLoader.decode(TinyRecipe.yaml(directory: dir), file: "recipe.yaml")
        #expect(r.stages.count == 2 && r.stages[0].template == nil && r.stages[0].trainable == nil
                && r.stages[0].trainablePatterns(lora: false) == ["*", "!*.wings.*"] && r.stages[0].trainablePatterns(lora: true) == LoRAConfig.trainableGlobs)
        #expect(r.stages[1].gradientAccumulationSteps == 2 && r.stages[1].data[1].weight == 0.5)
        #expect(r.model.architecture?.numKeyValueHeads == 2)
    }

    @Test func unknownKeyNamesLineAndSuggests() {
        let yaml = TinyRecipe.yaml(directory: dir).replacingOccurrences(of: "    learning_rate: 3.0e-3", with: "    lerning_rate: 3.0e-3")
        let m = error(yaml)
        #expect(m == "recipe.yaml:\(line(yaml, "lerning_rate")): unknown key 'lerning_rate' in 'stages[0]' (did you mean 'learning_rate'?)", "\(m)")
    }

    @Test func unknownTopLevelKeyWithoutNearMatch() {
        let yaml = TinyRecipe.yaml(directory: dir) + "\nfrobnicate: 3\n"
        #expect(error(yaml) == "recipe.yaml:\(line(yaml, "frobnicate")): unknown key 'frobnicate' at the top level")
    }

    @Test func wrongTypeNamesLine() {
        let yaml = TinyRecipe.yaml(directory: dir).replacingOccurrences(of: "max_steps: 6", with: "max_steps: many")
        let m = error(yaml)
        #expect(m == "recipe.yaml:\(line(yaml, "max_steps: many")): 'stages[0].max_steps' should be an integer, got 'many'", "\(m)")
    }

    @Test func missingRequiredKey() {
        let yaml = TinyRecipe.yaml(directory: dir).replacingOccurrences(of: "    learning_rate: 1.0e-3\n", with: "")
        let m = error(yaml)
        #expect(m.contains("'stages[1]' is missing the required key 'learning_rate'") && m.hasPrefix("recipe.yaml:"), "\(m)")
    }

    @Test func missingDataFileNamesLine() {
        let yaml = TinyRecipe.yaml(directory: dir).replacingOccurrences(of: "data/conversations.json", with: "data/nope.json")
        let m = error(yaml)
        #expect(m == "recipe.yaml:\(line(yaml, "nope.json")): 'stages[1].data[0].path': data file not found: \(dir)/data/nope.json", "\(m)")
    }

    @Test func overridesSetAnyField() throws {
        let r = try RecipeLoader.decode(TinyRecipe.yaml(directory: dir), file: "recipe.yaml",
                                        overrides: ["stages.0.max_steps=11", "output_dir=/tmp/elsewhere", "stages[1].learning_rate=0.5", "seed=9"])
        #expect(r.stages[0].maxSteps == 11 && r.outputDir == "/tmp/elsewhere" && r.stages[1].learningRate == 0.5 && r.seed == 9)
        #expect(error(TinyRecipe.yaml(directory: dir), overrides: ["stages.0.max_stepz=3"]).contains("did you mean 'max_steps'"))
        #expect(error(TinyRecipe.yaml(directory: dir), overrides: ["stages.5.max_steps=3"]).contains("is not an index of a list of 2"))
        #expect(error(TinyRecipe.yaml(directory: dir), overrides: ["model.base=/nonexistent"]).contains("exactly one of 'base'"))
    }

    @Test func invalidEnumValue() {
        let yaml = TinyRecipe.yaml(directory: dir).replacingOccurrences(of: "template: chatml", with: "template: alpaca")
        let m = error(yaml)
        #expect(m.hasPrefix("recipe.yaml:\(line(yaml, "alpaca")): 'stages[1].template': 'alpaca' is not valid"), "\(m)")
    }

    @Test func resolvedRecipeRoundTrips() throws {
        let r = try RecipeLoader.decode(TinyRecipe.yaml(directory: dir), file: "recipe.yaml", overrides: ["stages.0.max_steps=8"])
        let again = try RecipeLoader.decode(RecipeLoader.yaml(r), file: "saved.yaml")
        #expect(again == r)
    }

    /// `model.wings` (defaults filled in, keys checked) and `lr_multipliers` (the longest matching glob wins).
    @Test func wingsAndLearningRateMultipliers() throws {
        let r = try RecipeLoader.decode(TinyRecipe.yaml(directory: dir), file: "recipe.yaml", overrides: [
            "model.wings={rank: 4}", #"stages.0.lr_multipliers={"model.*": 0.1, "model.layers.*.wings.*": 1}"#])
        #expect(r.model.wings == WingsConfig(rank: 4, routerMaxKeys: 256))
        #expect(r.stages[0].lrMultiplier(for: "model.layers.0.mlp.up_proj.weight") == 0.1)
        #expect(r.stages[0].lrMultiplier(for: "model.layers.3.wings.visual.q_proj.lora_A.weight") == 1)
        #expect(r.stages[0].lrMultiplier(for: "multi_modal_projector.linear_1.weight") == 1)
        #expect(r.stages[1].lrMultiplier(for: "model.layers.0.mlp.up_proj.weight") == 1)
        #expect(error(TinyRecipe.yaml(directory: dir), overrides: ["model.wings={rank: 4, rnak: 2}"]).contains("unknown key 'rnak' in 'model.wings' (did you mean 'rank'?)"))
    }
}

extension RecipeTests {
    /// Continual-learning keys: a task sequence out of stage order, feature augmentation without
    /// replay and distillation in the first stage without data each stop with the line.
    @Test func continualKeysAreChecked() {
        let suites = "\neval:\n  suites:\n    - {name: a, path: \(TestPaths.root)/evals/toyworld/en.jsonl, mode: continuation}\n"
            + "    - {name: b, path: \(TestPaths.root)/evals/toyworld/zh.jsonl, mode: continuation}\n"
        let yaml = TinyRecipe.yaml(directory: dir) + suites + "  tasks:\n    - {stage: chat, suite: a}\n    - {stage: pretrain, suite: b}\n"
        #expect(error(yaml) == "recipe.yaml:\(line(yaml, "stage: pretrain, suite: b")): tasks must follow the stages' order, each stage once ('pretrain' comes too late)")
        let twice = TinyRecipe.yaml(directory: dir) + suites + "  tasks:\n    - {stage: pretrain, suite: a}\n    - {stage: chat, suite: a}\n"
        #expect(error(twice) == "recipe.yaml:\(line(twice, "stage: chat, suite: a")): suite 'a' measures two tasks")
        let augment = TinyRecipe.yaml(directory: dir).replacingOccurrences(of: "    save_steps: 2", with: "    save_steps: 2\n    feature_augmentation: {beta: 0.2}")
        #expect(error(augment) == "recipe.yaml:\(line(augment, "feature_augmentation")): feature augmentation acts on replayed samples: add 'replay' to stage 'chat'")
        let distill = TinyRecipe.yaml(directory: dir).replacingOccurrences(of: "    save_steps: 3\n", with: "    save_steps: 3\n    distillation: {weight: 1}\n")
        #expect(error(distill) == "recipe.yaml:\(line(distill, "distillation")): the first stage has no earlier data to distill on: give 'distillation.data'")
    }
}
