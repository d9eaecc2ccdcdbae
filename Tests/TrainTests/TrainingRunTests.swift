import Data
import Eval
import Foundation
import Model
import SafeTensors
import Tensor
import TestSupport
import Testing
import Tokenizer
import Train

/// Whole runs of a tiny two-stage recipe: exact resume, interrupted saves, checkpoint contents.
struct TrainingRunTests {
    let dir = TestPaths.temporaryDirectory("train")

    init() throws {
        try ToyWorld(seed: 5, entities: 6).write(to: dir + "/data", variants: 2)
    }

    func recipe(_ out: String, _ extra: [String] = []) throws -> Recipe {
        try RecipeLoader.decode(TinyRecipe.yaml(directory: dir), file: "tiny.yaml", overrides: ["output_dir=\(dir)/\(out)"] + extra)
    }

    func run(_ r: Recipe, resume: Bool = false, stopAfter: Int? = nil,
             failpoint: ((String) throws -> Void)? = nil) throws -> TrainSummary {
        var o = TrainOptions()
        o.resume = resume
        o.stopAfterGlobalStep = stopAfter
        o.checkpointFailpoint = failpoint
        o.log = { _ in }
        return try Trainer(recipe: r, options: o).run()
    }

    /// The values of the loss term `name` in `out`'s metrics.jsonl, each step's `loss` checked to be `task_loss` + the term.
    func lossTerm(_ name: String, of out: String) throws -> [Double] {
        let records = try String(contentsOfFile: "\(dir)/\(out)/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        for r in records where r[name] != nil {
            let sum = (r["task_loss"] as! Double) + (r[name] as! Double)
            #expect(abs(sum - (r["loss"] as! Double)) < 1e-5, "loss = task_loss + \(name)")
        }
        return records.compactMap { $0[name] as? Double }
    }

    func metricLosses(_ out: String) throws -> [Double] {
        let text = try String(contentsOfFile: "\(dir)/\(out)/metrics.jsonl", encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"] as? Double
        }
    }

    /// Train, stop, resume: the per-step losses after resume equal the uninterrupted run's, exactly.
    @Test func resumeContinuesTheSameLossCurve() throws {
        let full = try run(recipe("full"))
        #expect(full.losses.count == 10)
        #expect(full.losses.last! < full.losses.first!)

        // Stop after step 5 of stage 1... (checkpoint at step 3), then after step 8 (inside stage 2, checkpoint at chat step 2).
        let first = try run(recipe("parts"), stopAfter: 5)
        #expect(first.losses == Array(full.losses[0..<5]))
        let second = try run(recipe("parts"), resume: true, stopAfter: 9)
        #expect(second.losses == Array(full.losses[3..<9]), "resumed from pretrain-step3")
        let third = try run(recipe("parts"), resume: true)
        #expect(third.losses == Array(full.losses[8..<10]), "resumed from chat-step2 (global step 8)")
        #expect(try metricLosses("parts") == metricLosses("full"), "metrics.jsonl holds each step once")
    }

    /// A crash at any point of a save leaves `latest` naming a complete checkpoint, and resuming
    /// from it still reproduces the uninterrupted run.
    @Test(arguments: ["model.safetensors", "tokenizer", "optimizer.safetensors", "trainer_state.json", "recipe.yaml", "rename"])
    func crashDuringSaveNeverBreaksLatest(at point: String) throws {
        let full = try run(recipe("ref-\(point)"))
        let out = "crash-\(point)"
        var saves = 0
        #expect(throws: TrainError.self) {
            _ = try run(recipe(out), failpoint: { file in
                if file == "model.safetensors" { saves += 1 }
                if saves == 2 && file == point { throw TrainError("simulated crash writing \(file)") }
            })
        }
        // The first save (pretrain-step3) is what latest names, complete and loadable.
        let latest = try #require(try Checkpoint.latest(outputDir: "\(dir)/\(out)"))
        #expect(latest.hasSuffix("checkpoints/pretrain-step3"))
        _ = try ModelDirectory.loadDecoder(latest)
        #expect(try Checkpoint.readState(latest).step == 3)
        let resumed = try run(recipe(out), resume: true)
        #expect(resumed.losses == Array(full.losses[3...]))
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(out)/checkpoints")
        #expect(!names.contains { $0.hasPrefix(".tmp-") }, "leftovers of the crashed save are cleaned up")
    }

    /// What `train` writes loads back bit for bit: weights, optimizer moments and state.
    @Test func checkpointLoadsBackBitIdentical() throws {
        let config = DecoderConfig(modelType: "qwen2", hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 24,
                                   vocabSize: 521, maxPositionEmbeddings: 32)
        let decoder = DecoderModel(config: config)
        decoder.initialize(seed: 11, std: 0.1)
        decoder.parameters.setTrainable(matching: ["model.layers.*"])
        let optimizer = AdamW(parameters: decoder.parameters, config: AdamWConfig())
        var rng = SeededGenerator(seed: 4)
        for _ in 0..<3 {
            for i in decoder.parameters.trainableIndices {
                let g = decoder.parameters.gradient(at: i)!
                for j in 0..<g.count { g[j] = rng.normal() }
            }
            optimizer.update(lr: 0.01)
        }
        let tokenizer = try SentencePieceTokenizer(path: TestPaths.root + "/tokenizers/toyworld.model")
        let state = TrainerState(stage: "s", stageIndex: 0, step: 3, totalSteps: 5, globalStep: 3,
                                 dataPosition: .init(epoch: 1, cursor: 7), seed: 1, loss: 2.5)
        let out = dir + "/bits"
        let saved = try Checkpoint.save(outputDir: out, decoder: decoder, tokenizer: tokenizer, optimizer: optimizer, state: state, recipeYAML: "x: 1\n")
        #expect(try Checkpoint.latest(outputDir: out) == saved)
        let loaded = try ModelDirectory.loadDecoder(saved)
        #expect(loaded.config == config)
        let a = decoder.parameters.values.all.array, b = loaded.parameters.values.all.array
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        loaded.parameters.setTrainable(matching: ["model.layers.*"])
        let restored = AdamW(parameters: loaded.parameters, config: AdamWConfig())
        try Checkpoint.restore(restored, from: saved)
        #expect(restored.step == 3)
        #expect(restored.state.all.array.map(\.bitPattern) == optimizer.state.all.array.map(\.bitPattern))
        #expect(try Checkpoint.readState(saved) == state)
        #expect(try SentencePieceTokenizer(path: saved + "/tokenizer.model").modelData == tokenizer.modelData)
    }

    /// Old checkpoints are pruned to `save_total_limit`, but each stage's last one stays.
    @Test func pruningKeepsStageFinals() throws {
        _ = try run(recipe("prune", ["save_total_limit=1"]))
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/prune/checkpoints"))
        #expect(names == ["pretrain-step6", "chat-step4"])
        let latest = try String(contentsOfFile: "\(dir)/prune/latest", encoding: .utf8)
        #expect(latest == "checkpoints/chat-step4\n")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/prune/runs"))
    }

    /// Special tokens grow the tokenizer and the embedding together, and a checkpoint's
    /// tokenizer.model always matches its embedding rows.
    @Test func specialTokensGrowTheEmbedding() throws {
        _ = try run(recipe("base", ["stages.0.max_steps=1", "stages.1.max_steps=1"]))
        let base = try #require(try Checkpoint.latest(outputDir: "\(dir)/base"))
        var yaml = TinyRecipe.yaml(directory: dir)
        let model = yaml.range(of: "model:")!.lowerBound..<yaml.range(of: "tokenizer:")!.lowerBound
        yaml.replaceSubrange(model, with: "model:\n  base: \(base)\n")
        let r = try RecipeLoader.decode(yaml, file: "grow.yaml", overrides: ["output_dir=\(dir)/grow", "special_tokens=[\"<x1>\", \"<x2>\"]",
                                                                           "stages.0.max_steps=1", "stages.1.max_steps=1"])
        _ = try run(r)
        let latest = try #require(try Checkpoint.latest(outputDir: "\(dir)/grow"))
        let tokenizer = try SentencePieceTokenizer(path: latest + "/tokenizer.model")
        let decoder = try ModelDirectory.loadDecoder(latest)
        #expect(tokenizer.vocabularySize == 523 && decoder.config.vocabSize == 523)
        #expect(tokenizer.encode("<x2>").last == 522)
    }

    /// The `eval` block scores suites before the first stage and after each one, into the forgetting report.
    @Test func evalBlockWritesTheForgettingReport() throws {
        let suites = "{suites: [{name: en, path: \(TestPaths.root)/evals/toyworld/en.jsonl, limit: 3}, " +
                     "{name: zh, path: \(TestPaths.root)/evals/toyworld/zh.jsonl, metric: acc, limit: 3}]}"
        _ = try run(recipe("report", ["eval=\(suites)"]), stopAfter: 7)
        _ = try run(recipe("report", ["eval=\(suites)"]), resume: true)
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/report/forgetting.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(json["points"] as? [String] == ["initial", "pretrain", "chat"])
        let en = (json["suites"] as! [String: Any])["en"] as! [String: Any]
        #expect((en["values"] as! [Any]).compactMap { $0 as? Double }.count == 3 && en["metric"] as? String == "acc_norm")
        for point in ["initial", "pretrain", "chat"] {
            let r = try EvalResult.load("\(dir)/report/eval/\(point)/zh.json")
            #expect(r.overall.n == 12 && r.mode == .continuation)
        }
        let md = try String(contentsOfFile: "\(dir)/report/forgetting.md", encoding: .utf8)
        #expect(md.contains("| en | acc_norm |") && md.contains("| zh | acc |"))
        #expect(try String(contentsOfFile: "\(dir)/report/forgetting.svg", encoding: .utf8).hasPrefix("<svg"))
    }

    /// text → vision → align → instruct: the model gains a tower and projector, each stage trains
    /// its own groups, checkpoints are multimodal, and resuming inside a multimodal stage continues exactly.
    @Test func multimodalStagesTrainAndResumeExactly() throws {
        try ToyScenes(seed: 3, count: 12).write(to: dir + "/scenes")
        func mm(_ out: String) throws -> Recipe {
            try RecipeLoader.decode(TinyRecipe.multimodalYAML(directory: dir), file: "mm.yaml", overrides: ["output_dir=\(dir)/\(out)"])
        }
        let full = try run(mm("mm-full"))
        #expect(full.losses.count == 10 && full.losses.allSatisfy(\.isFinite))
        let latest = try #require(try Checkpoint.latest(outputDir: "\(dir)/mm-full"))
        let model = try MultimodalModel.load(latest)
        #expect(model.imageTokens == 4 && model.config.imageTokenIndex == 512)
        // The align stage trained the projector only: the tower is as the vision stage left it.
        let afterVision = try MultimodalModel.load("\(dir)/mm-full/checkpoints/vision-step2")
        let afterAlign = try MultimodalModel.load("\(dir)/mm-full/checkpoints/align-step2")
        #expect(afterVision.encoder.parameters.values.all.array == afterAlign.encoder.parameters.values.all.array)
        #expect(afterVision.projector.parameters.values.all.array != afterAlign.projector.parameters.values.all.array)
        #expect(afterVision.decoder.parameters.values.all.array == afterAlign.decoder.parameters.values.all.array)

        let first = try run(mm("mm-parts"), stopAfter: 7)
        #expect(first.losses == Array(full.losses[0..<7]))
        let middle = try run(mm("mm-parts"), resume: true, stopAfter: 9)
        #expect(middle.losses == Array(full.losses[6..<9]), "resumed from align-step2, a stage boundary")
        let rest = try run(mm("mm-parts"), resume: true)
        #expect(rest.losses == Array(full.losses[8...]), "resumed from instruct-step2, inside a multimodal stage")
    }

    /// Wings on the multimodal recipe: learners attached fresh (B = 0) stay untouched through the
    /// text and vision stages, align trains the projector and the visual learners only, instruct
    /// trains learners, router and LM (at a fifth of the rate); checkpoints carry the learners and
    /// resuming inside instruct continues exactly.
    @Test func wingsStagesTrainTheirGroupsAndResumeExactly() throws {
        try ToyScenes(seed: 3, count: 12).write(to: dir + "/scenes")
        func wings(_ out: String) throws -> Recipe {
            try RecipeLoader.decode(TinyRecipe.multimodalYAML(directory: dir), file: "mm.yaml", overrides: [
                "output_dir=\(dir)/\(out)", "model.wings={rank: 2, router_max_keys: 48}",
                #"stages.2.trainable=["multi_modal_projector.*", "model.layers.*.wings.visual.*"]"#,
                #"stages.3.trainable=["multi_modal_projector.*", "vision_tower.*", "model.*"]"#,
                #"stages.3.lr_multipliers={"model.*": 0.2, "model.layers.*.wings.*": 1}"#,
            ])
        }
        let full = try run(wings("wings-full"))
        #expect(full.losses.count == 10 && full.losses.allSatisfy(\.isFinite))
        func load(_ name: String) throws -> DecoderModel { try MultimodalModel.load("\(dir)/wings-full/checkpoints/\(name)").decoder }
        let vision = try load("vision-step2"), align = try load("align-step2"), last = try load("instruct-step4")
        #expect(last.config.wings == WingsConfig(rank: 2, routerMaxKeys: 48))
        func tensors(_ d: DecoderModel, _ pattern: String) -> [Float] {
            d.parameters.table.filter { Glob.matches($0.name, pattern: pattern) }.flatMap { d.parameters.value($0.name).array }
        }
        #expect(tensors(vision, "*.wings.*lora_B*").allSatisfy { $0 == 0 }, "text and vision stages leave the learners at B = 0")
        #expect(tensors(vision, "*.wings.visual.*") != tensors(align, "*.wings.visual.*"))
        #expect(tensors(vision, "*.wings.textual.*") == tensors(align, "*.wings.textual.*"))
        #expect(tensors(vision, "*.wings.router.*") == tensors(align, "*.wings.router.*"))
        #expect(tensors(vision, "model.layers.*.mlp.*") == tensors(align, "model.layers.*.mlp.*"))
        #expect(tensors(align, "*.wings.textual.*") != tensors(last, "*.wings.textual.*"))
        #expect(tensors(align, "*.wings.router.*") != tensors(last, "*.wings.router.*"))
        #expect(tensors(align, "model.layers.*.mlp.*") != tensors(last, "model.layers.*.mlp.*"))

        _ = try run(wings("wings-parts"), stopAfter: 9)
        let rest = try run(wings("wings-parts"), resume: true)
        #expect(rest.losses == Array(full.losses[8...]), "resumed from instruct-step2, inside a Wings stage")
    }

    /// Parrot on the multimodal recipe: the MoE stays untouched while align trains the projector
    /// with it off, instruct trains it; the final evaluation writes eval/multimodal.json (per
    /// language and category) and the routing report; checkpoints carry the MoE.
    @Test func parrotStagesAndReports() throws {
        try ToyScenes(seed: 3, count: 12).write(to: dir + "/scenes")
        try ToyScenes(seed: 9, count: 2).writeSuite(to: dir + "/scene-suite", range: 0..<2)
        let recipe = try RecipeLoader.decode(TinyRecipe.multimodalYAML(directory: dir), file: "mm.yaml", overrides: [
            "output_dir=\(dir)/parrot", "model.vision.vision_feature_select_strategy=full",
            "model.parrot={num_experts: 3, expert_intermediate_size: 8}",
            #"stages.3.trainable=["multi_modal_projector.*", "multi_modal_moe.*", "model.*"]"#,
            "eval={suites: [{name: en, path: \(dir)/scene-suite/en.jsonl, metric: acc}, {name: zh, path: \(dir)/scene-suite/zh.jsonl, metric: acc}]}",
        ])
        let losses = try run(recipe).losses
        #expect(losses.count == 10 && losses.allSatisfy { $0.isFinite })
        let moe = { (name: String) throws -> [Float] in
            let model = try MultimodalModel.load("\(dir)/parrot/checkpoints/\(name)")
            return withExtendedLifetime(model) { model.moe!.parameters.values.all.array }
        }
        let vision = try moe("vision-step2"), align = try moe("align-step2"), instruct = try moe("instruct-step4")
        #expect(vision == align, "align runs with the MoE off")
        #expect(align != instruct)
        let result = try EvalResult.load("\(dir)/parrot/eval/multimodal.json")
        #expect(result.overall.n == 2 * 2 * 4 && Set(result.languages!.keys) == ["en", "zh"])
        #expect(Set(result.subjects.keys) == ["color", "count", "position", "shape"])
        let router = try JSONDecoder().decode(RouterReport.self, from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/parrot/eval/instruct/router.json")))
        #expect(router.languages == ["en", "zh"] && router.counts == [8, 8] && router.experts == 3)
        #expect(try String(contentsOfFile: "\(dir)/parrot/router.svg", encoding: .utf8).hasPrefix("<svg"))
        #expect(router.entropy.count == 2 && router.entropy.allSatisfy { $0 >= 0 && $0 <= log(3) + 1e-9 })
        // The router probed over training: at instruct's start and every logging step, instruct only.
        let trace = try RouterTraceEntry.load("\(dir)/parrot/router_trace.jsonl")
        #expect(trace.first?.step == 0 && trace.last?.step == 4 && trace.allSatisfy { $0.stage == "instruct" }, "\(trace.map(\.step))")
        #expect(try String(contentsOfFile: "\(dir)/parrot/router.md", encoding: .utf8).contains("## Over training"))
    }

    /// Replay and EWC in the second stage: the buffer joins the data, the Fisher is estimated from
    /// the first stage's data, and resuming inside the stage (EWC state from the checkpoint)
    /// continues the same loss curve exactly.
    @Test func replayAndEWCResumeExactly() throws {
        let extra = ["stages.1.replay={ratio: 0.3, buffer_size: 8}", "stages.1.ewc={lambda: 50, batches: 2}"]
        var logs: [String] = []
        var o = TrainOptions()
        o.log = { logs.append($0) }
        let full = try Trainer(recipe: recipe("cl-full", extra), options: o).run()
        #expect(full.losses.count == 10 && full.losses.allSatisfy(\.isFinite))
        #expect(logs.contains { $0.hasPrefix("replay: 8 text-only samples from earlier stages, 30% of each epoch") })
        #expect(logs.contains { $0.hasPrefix("ewc: Fisher diagonal from 8 samples of stage 'pretrain'") })
        // The penalty joins the loss: 0 at the stage's first step (θ = θ*), then growing as θ leaves θ*.
        let penalties = try lossTerm("ewc_penalty", of: "cl-full")
        #expect(penalties.count == 4 && penalties[0] == 0, "\(penalties)")
        #expect(penalties.dropFirst().allSatisfy { $0 > 0 }, "\(penalties)")
        _ = try run(recipe("cl-parts", extra), stopAfter: 8)
        let rest = try run(recipe("cl-parts", extra), resume: true)
        #expect(rest.losses == Array(full.losses[8...]))
        let plain = try run(recipe("cl-plain"))
        #expect(Array(plain.losses[..<6]) == Array(full.losses[..<6]), "the first stage is untouched")
        #expect(plain.losses[6...] != full.losses[6...])
    }
}

extension TrainingRunTests {
    /// Distillation and feature augmentation (with replay) in the second stage: the teacher copies
    /// only what trains, both change the run, and resuming inside the stage (teacher tensors from
    /// the checkpoint, the distillation batcher where the step puts it) continues exactly.
    @Test func distillationAndFeatureAugmentationResumeExactly() throws {
        let replay = "stages.1.replay={ratio: 0.3, buffer_size: 8}"
        let extra = [replay, "stages.1.distillation={weight: 2, temperature: 2}", "stages.1.feature_augmentation={beta: 0.5}",
                     #"stages.1.trainable=["model.layers.1.*"]"#]
        var logs: [String] = []
        var o = TrainOptions()
        o.log = { logs.append($0) }
        let full = try Trainer(recipe: recipe("kd-full", extra), options: o).run()
        #expect(full.losses.count == 10 && full.losses.allSatisfy(\.isFinite))
        #expect(logs.contains { $0.hasPrefix("distillation: teacher = the weights at the start of 'chat' (9 tensors copied, the rest shared") })
        #expect(logs.contains { $0.hasPrefix("feature augmentation: replayed samples shifted") })
        let kd = try lossTerm("distillation_loss", of: "kd-full")
        #expect(kd.count == 4 && kd[0] == 0, "the student starts as the teacher: KL 0 at the first step")
        #expect(kd[3] > 0)
        _ = try run(recipe("kd-parts", extra), stopAfter: 8)
        let rest = try run(recipe("kd-parts", extra), resume: true)
        #expect(rest.losses == Array(full.losses[8...]))
        let replayOnly = try run(recipe("kd-replay", [replay, #"stages.1.trainable=["model.layers.1.*"]"#]))
        #expect(Array(replayOnly.losses[..<6]) == Array(full.losses[..<6]), "the first stage is untouched")
        #expect(replayOnly.losses[6...] != full.losses[6...])
        _ = try run(recipe("kd-noaug", Array(extra[..<2]) + [extra[3]]))
        let weights = { (run: String) throws -> Data in try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(run)/checkpoints/chat-step4/model.safetensors")) }
        #expect(try weights("kd-noaug") != weights("kd-full"), "feature augmentation changes what is learned")
        #expect(try weights("kd-parts") == weights("kd-full"))
    }
}

extension TrainingRunTests {
    /// The strategies in a multimodal stage with Wings learners: replayed text rows beside image
    /// rows, feature augmentation on them, distillation on text batches through the multimodal
    /// runner; the stage trains and resumes exactly (from instruct-step2).
    @Test func continualStrategiesInAMultimodalWingsStage() throws {
        try ToyScenes(seed: 3, count: 12).write(to: dir + "/scenes")
        func cl(_ out: String) throws -> Recipe {
            try RecipeLoader.decode(TinyRecipe.multimodalYAML(directory: dir), file: "mm.yaml", overrides: [
                "output_dir=\(dir)/\(out)", "model.wings={rank: 2, router_max_keys: 48}",
                #"stages.3.trainable=["multi_modal_projector.*", "model.layers.*.wings.*"]"#,
                "stages.3.replay={ratio: 0.5, buffer_size: 8}", "stages.3.feature_augmentation={beta: 0.5}",
                "stages.3.distillation={weight: 1, temperature: 2}", "stages.3.ewc={lambda: 10, batches: 1}",
            ])
        }
        let full = try run(cl("mmcl-full"))
        #expect(full.losses.count == 10 && full.losses.allSatisfy(\.isFinite))
        _ = try run(cl("mmcl-parts"), stopAfter: 8)
        let rest = try run(cl("mmcl-parts"), resume: true)
        #expect(rest.losses == Array(full.losses[8...]), "resumed from instruct-step2")
    }
}
