import Collective
import Data
import Foundation
import Model
import Support
import Tokenizer

/// Runs the stages of a recipe in order, each from the weights the previous one ended with.
///
/// Per stage: a `StagePlan` (data, strategies, optimizer, schedule, where it stands), then
/// `StagePlan.runStep` per optimizer step, each step's `StepRecord` written to `metrics.jsonl`,
/// TensorBoard and the progress line; checkpoints every `save_steps` and at the end of each
/// stage; the `eval` block's suites before the first stage and after each one.
///
/// Data-parallel (`options.communicator` of several ranks): every rank runs this same loop on its
/// share of each global batch; rank 0 alone holds the output directory's lock and writes the
/// checkpoints, `metrics.jsonl`, TensorBoard, the evaluations and the summary.
public final class Trainer {
    public let recipe: Recipe
    let recipeYAML: String
    let options: TrainOptions
    var summary = TrainSummary()
    /// The base model's (or resumed checkpoint's) `generation_config.json`, carried into every
    /// checkpoint so generation stops where the base model's does.
    var generation: GenerationConfig?

    public init(recipe: Recipe, options: TrainOptions = TrainOptions()) throws {
        self.recipe = recipe
        recipeYAML = try RecipeLoader.yaml(recipe)
        self.options = options
    }

    func log(_ s: String) { options.log(s) }

    /// Written into the output directory at the end of a run: seed, wall seconds (of this
    /// process: a resumed run counts from its restart), steps, final loss.
    public static let summaryFile = "run_summary.json"

    var communicator: any Communicator { options.communicator }

    public func run() throws -> TrainSummary {
        let started = Date(), out = recipe.outputDir, main = communicator.isMain
        let directory = main ? try OutputDirectory(out, resume: options.resume, overwrite: options.overwrite || recipe.overwriteOutputDir, log: log) : nil
        defer { directory?.release() }
        communicator.barrier()  // the directory is claimed (and cleaned) before any rank reads a checkpoint from it
        summary = TrainSummary()
        let (model, tokenizer, state) = try startingPoint()
        let logs = main ? try RunLog(outputDir: out, keepThrough: state?.globalStep ?? 0) : nil
        var globalStep = state?.globalStep ?? 0
        let evaluation = main ? try recipe.eval.map { try StageEvaluation(spec: $0, stages: recipe.stages.map(\.name), outputDir: out, log: options.log) } : nil
        if let evaluation, state == nil { try evaluation.evaluate(StageEvaluation.initial, model: model, tokenizer: tokenizer, moe: true) }
        let classIncremental = main ? try recipe.cil.map { try ClassIncrementalEvaluation(spec: $0, outputDir: out, log: options.log) } : nil
        for (index, stage) in recipe.stages.enumerated() {
            if let s = state, index < s.stageIndex || (index == s.stageIndex && s.stageComplete) {
                // A run stopped between a stage's last checkpoint and its evaluation: the weights are that checkpoint's.
                if let evaluation, index == s.stageIndex, !evaluation.isDone(stage.name) {
                    try evaluation.evaluate(stage.name, model: model, tokenizer: tokenizer, moe: stage.usesParrotMoE)
                }
                if let classIncremental, index == s.stageIndex, !classIncremental.isDone(index) {
                    try classIncremental.evaluate(afterTask: index, model: model, tokenizer: tokenizer, template: stage.template)
                }
                continue
            }
            if recipe.cil?.classifier == .prototype {
                // SimpleCIL: no gradient step; each task only adds its classes' prototypes.
                try evaluation?.evaluate(stage.name, model: model, tokenizer: tokenizer, moe: stage.usesParrotMoE)
                try classIncremental?.evaluate(afterTask: index, model: model, tokenizer: tokenizer, template: stage.template)
                continue
            }
            let resume = state.flatMap { $0.stageIndex == index ? $0 : nil }
            let plan = try StagePlan(recipe: recipe, index: index, model: model, tokenizer: tokenizer, resume: resume,
                                     checkpoint: resume == nil ? nil : try Checkpoint.latest(outputDir: out), communicator: communicator,
                                     log: options.log)
            guard try train(plan, tokenizer: tokenizer, logs: logs, evaluation: evaluation, globalStep: &globalStep) else {
                summary.seconds = Date().timeIntervalSince(started)
                return summary
            }
            try evaluation?.evaluate(stage.name, model: model, tokenizer: tokenizer, moe: stage.usesParrotMoE)
            try classIncremental?.evaluate(afterTask: index, model: model, tokenizer: tokenizer, template: stage.template)
        }
        if main { try finish(model: model, tokenizer: tokenizer, evaluation: evaluation, globalStep: globalStep, resumed: state != nil, started: started) }
        return summary
    }

    /// A resumed checkpoint must be the recipe's model: when the recipe gives an architecture,
    /// its sizes must equal the checkpoint's (the vocabulary may have grown by `special_tokens`),
    /// else the recipe was edited after the run started, and resuming would silently train another model.
    static func checkArchitecture(of loaded: LoadedModel, at dir: String, against recipe: Recipe) throws {
        guard let a = recipe.model.architecture else { return }
        let c = loaded.decoder.config
        let pairs: [(String, Int, Int)] = [("hidden_size", a.hiddenSize, c.hiddenSize), ("num_hidden_layers", a.numHiddenLayers, c.numHiddenLayers),
                                           ("num_attention_heads", a.numAttentionHeads, c.numAttentionHeads),
                                           ("num_key_value_heads", a.numKeyValueHeads, c.numKeyValueHeads),
                                           ("intermediate_size", a.intermediateSize, c.intermediateSize)]
        for (key, recipeValue, checkpointValue) in pairs where recipeValue != checkpointValue {
            throw TrainError("--resume: the recipe's model.architecture.\(key) is \(recipeValue) but \(dir) has \(checkpointValue): the recipe changed after the run started (start a new output_dir, or --overwrite)")
        }
        if let v = recipe.model.vision?.architecture, let m = loaded.multimodal?.config.visionConfig,
           (v.hiddenSize, v.numHiddenLayers, v.imageSize, v.patchSize) != (m.hiddenSize, m.numHiddenLayers, m.imageSize, m.patchSize) {
            throw TrainError("--resume: the recipe's model.vision.architecture differs from \(dir)'s vision tower: the recipe changed after the run started")
        }
    }

    /// Where the run starts: the checkpoint `latest` names (with `--resume`) or the recipe's model.
    func startingPoint() throws -> (AnyModel, any TextTokenizer, TrainerState?) {
        let out = recipe.outputDir
        guard options.resume, let dir = try Checkpoint.latest(outputDir: out) else {
            if options.resume { log("no checkpoint in \(out): starting from the beginning") }
            let (model, tokenizer) = try InitialModel(recipe: recipe, log: options.log).make()
            generation = try recipe.model.base.flatMap { try GenerationConfig.load(directory: $0) }
            return (model, tokenizer, nil)
        }
        let loaded = try LoadedModel(directory: dir), state = try Checkpoint.readState(dir)
        log("resuming from \(dir) (stage '\(state.stage)', step \(state.step)/\(state.totalSteps))")
        guard state.stageIndex < recipe.stages.count, recipe.stages[state.stageIndex].name == state.stage else {
            throw TrainError("\(dir): stage '\(state.stage)' is not stage \(state.stageIndex) of the recipe")
        }
        try Self.checkArchitecture(of: loaded, at: dir, against: recipe)
        generation = loaded.generation
        return (loaded.model, loaded.tokenizer, state)
    }

    /// Runs `plan`'s remaining steps, recording each and checkpointing on schedule. Returns false
    /// when `stopAfterGlobalStep` interrupted the run. A stage that trains through Parrot's MoE
    /// probes the router at its start and every `logging_steps` (`StageEvaluation.probeRouter`).
    func train(_ plan: StagePlan, tokenizer: any TextTokenizer, logs: RunLog?, evaluation: StageEvaluation?, globalStep: inout Int) throws -> Bool {
        let stage = plan.stage
        let progress = Progress(label: stage.name, total: plan.totalSteps, startStep: plan.step, every: stage.loggingSteps,
                                terminal: options.terminal, log: options.log)
        let probe = stage.usesParrotMoE ? plan.model.multimodal.flatMap { $0.moe == nil ? nil : $0 } : nil
        func probeRouter() throws {
            guard let evaluation, let probe else { return }
            progress.interrupt()
            try evaluation.probeRouter(probe, tokenizer: tokenizer, stage: stage.name, step: plan.step, globalStep: globalStep)
        }
        if plan.step == 0 { try probeRouter() }
        var lastLoss: Float = .nan
        while !plan.isComplete {
            if let stop = options.stopAfterGlobalStep, globalStep >= stop {
                progress.interrupt()
                return false
            }
            globalStep += 1
            let record = plan.runStep(globalStep: globalStep)
            lastLoss = record.loss
            guard lastLoss.isFinite else {
                progress.interrupt()
                throw TrainError("stage '\(stage.name)' step \(plan.step): the loss is \(lastLoss); lower learning_rate (\(stage.learningRate)) or check the data")
            }
            summary.losses.append(lastLoss)
            try logs?.write(record)
            progress.update(step: record.step, loss: record.loss, lr: record.lr, tokensPerSecond: record.tokensPerSecond)
            if plan.step % stage.loggingSteps == 0 || plan.isComplete { try probeRouter() }
            if communicator.isMain, let evalSet = plan.evalSet, let every = stage.evalSteps, plan.step % every == 0 || plan.isComplete {
                let loss = plan.runner.meanLoss(over: evalSet)
                progress.interrupt()
                log(String(format: "[%@] step %d: eval loss %.4f", stage.name, plan.step, loss))
                try logs?.write(EvalRecord(stage: stage.name, step: plan.step, globalStep: globalStep, evalLoss: loss))
            }
            if communicator.isMain, plan.isComplete || (stage.saveSteps.map { plan.step % $0 == 0 } ?? false) {
                try save(plan, tokenizer: tokenizer, state: plan.state(globalStep: globalStep, seed: recipe.seed, loss: lastLoss))
            }
        }
        log(String(format: "stage '%@' done: final loss %.4f", stage.name, lastLoss))
        return true
    }

    /// A checkpoint of `plan`'s model, optimizer and strategies at `state`; old ones pruned.
    func save(_ plan: StagePlan, tokenizer: any TextTokenizer, state: TrainerState) throws {
        let dir = try Checkpoint.save(outputDir: recipe.outputDir, model: plan.model, tokenizer: tokenizer, generation: generation,
                                      optimizer: plan.optimizer, state: state,
                                      recipeYAML: recipeYAML, extraState: plan.strategies.flatMap(\.checkpointState),
                                      failpoint: options.checkpointFailpoint)
        try Checkpoint.prune(outputDir: recipe.outputDir, keep: recipe.saveTotalLimit)
        summary.finalCheckpoint = dir
    }

    /// After the last stage: the final checkpoint, the `generate` samples, the forgetting table and `run_summary.json`.
    func finish(model: AnyModel, tokenizer: any TextTokenizer, evaluation: StageEvaluation?, globalStep: Int, resumed: Bool,
                started: Date) throws {
        if let dir = try Checkpoint.latest(outputDir: recipe.outputDir) {
            summary.finalCheckpoint = dir
            log("latest checkpoint: \(dir)")
        }
        if let g = recipe.generate {
            summary.samples = try Completions(spec: g, seed: Seeds(run: recipe.seed).generation, log: options.log)
                .run(model.decoder, tokenizer, generation: generation)
        }
        if let evaluation, !evaluation.table.isEmpty { log("\n" + evaluation.table) }
        summary.seconds = Date().timeIntervalSince(started)
        try RunSummaryFile(seed: recipe.seed, seconds: summary.seconds, globalSteps: globalStep, resumed: resumed,
                           finalLoss: summary.losses.last.flatMap { $0.isFinite ? Double($0) : nil })
            .write(to: recipe.outputDir + "/" + Self.summaryFile)
    }
}
