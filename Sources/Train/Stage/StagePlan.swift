import Collective
import Data
import Foundation
import Model
import Tensor
import Tokenizer

/// Everything set up for one stage before its first step: the trainable groups, the data (with
/// what the strategies add), the runner, the optimizer and schedule, the strategies, and where
/// the stage stands. `runStep(globalStep:)` (StagePlan+Step.swift) runs one optimizer step on it.
final class StagePlan {
    let stage: Stage
    let index: Int
    let model: AnyModel
    let runner: StepRunner
    let evalSet: StageDataset?
    let strategies: [any ContinualStrategy]
    let optimizer: AdamW
    let batcher: Batcher
    let schedule: LRSchedule
    let totalSteps: Int
    /// The processes this stage trains on (one, or the ranks of an MPI job): each holds the
    /// whole model, takes its share of every global batch and sums its gradients with the others'.
    let communicator: any Communicator
    /// Optimizer steps this stage has taken.
    private(set) var step: Int

    var batchSize: Int { stage.batchSize }
    var sequenceLength: Int { stage.modelMaxLength }
    var accumulation: Int { stage.gradientAccumulationSteps }
    var isComplete: Bool { step >= totalSteps }

    /// Sets up stage `index` of `recipe` on `model`; `resume` is the checkpoint state when the
    /// run resumes inside this stage (its directory `checkpoint`), nil for a fresh start.
    init(recipe: Recipe, index: Int, model: AnyModel, tokenizer: any TextTokenizer, resume: TrainerState?,
         checkpoint: String?, communicator: any Communicator = SingleProcess(), log: @escaping (String) -> Void) throws {
        let stage = recipe.stages[index]
        self.communicator = communicator
        self.stage = stage
        self.index = index
        self.model = model
        try Self.check(stage, fits: model)
        let multimodal = stage.kind.isMultimodal ? model.multimodal : nil
        let trainable = try Self.setTrainable(stage, model)
        try Self.checkMemory(stage, model)
        let seeds = Seeds(run: recipe.seed).stage(index)
        let data = DatasetBuilder(tokenizer: tokenizer, sequenceLength: stage.modelMaxLength, vision: nil).with(vision: multimodal)
        runner = StepRunner(model: model, multimodal: multimodal, moe: stage.usesParrotMoE, batch: stage.batchSize,
                            sequence: stage.modelMaxLength, pad: tokenizer.paddingID)
        let context = StrategyContext(stage: stage, index: index, earlier: Array(recipe.stages[..<index]), model: model, data: data,
                                      seeds: seeds, startStep: resume?.step ?? 0,
                                      globalBatch: stage.batchSize * communicator.size, base: recipe.model.base, log: log)
        var dataset = try data.dataset(of: stage)
        strategies = try StageStrategies.make(context)
        for s in strategies { dataset = try s.extend(dataset) }
        evalSet = stage.evalData.isEmpty ? nil
            : try data.dataset(stage.evalData, template: stage.template, system: stage.systemPrompt, skipBadSamples: stage.skipBadSamples)
        totalSteps = stage.maxSteps ?? Self.steps(epochs: stage.numTrainEpochs!, of: dataset,
                                                  batch: stage.batchSize * stage.gradientAccumulationSteps * communicator.size)
        log(Self.summary(stage, dataset: dataset, totalSteps: totalSteps, trainable: trainable, model: model))
        for s in strategies { for line in s.description { log(line) } }
        optimizer = AdamW(parameterSets: model.parameterSets, config: stage.adamW, lrMultiplier: stage.lrMultiplier(for:))
        var position = Batcher.Position()
        if let resume, let checkpoint {
            try Checkpoint.restore(optimizer, extraState: strategies.flatMap(\.checkpointState), from: checkpoint)
            step = resume.step
            position = resume.dataPosition
        } else {
            step = 0
            for s in strategies { try s.prepare(runner) }
        }
        batcher = Batcher(dataset: dataset, batchSize: stage.batchSize, seed: seeds.batches, position: position,
                          shard: (communicator.rank, communicator.size))
        schedule = LRSchedule(kind: stage.lrSchedulerType, lr: stage.learningRate, warmupSteps: stage.warmupSteps,
                              totalSteps: totalSteps, minLRRatio: stage.minLRRatio)
    }

    /// The stage's sequences fit the model's context, and a multimodal stage has a vision tower.
    static func check(_ stage: Stage, fits model: AnyModel) throws {
        let limit = model.decoder.config.maxPositionEmbeddings
        guard stage.modelMaxLength <= limit else {
            throw TrainError("stage '\(stage.name)': model_max_length \(stage.modelMaxLength) exceeds the model's max_position_embeddings \(limit)")
        }
        guard !stage.kind.isMultimodal || model.multimodal != nil else {
            throw TrainError("stage '\(stage.name)' (\(stage.kind.rawValue)) needs a vision tower: add 'model.vision' to the recipe or start from a multimodal base")
        }
    }

    /// Throws unless the decoder's activations for one micro-batch fit in memory beside the
    /// weights, the trainable tensors' gradients and AdamW's two moments of them. Call after `setTrainable`.
    static func checkMemory(_ stage: Stage, _ model: AnyModel) throws {
        let B = stage.batchSize, T = stage.modelMaxLength
        let held = model.parameterSets.reduce(0) { $0 + $1.values.bytes + 3 * ($1.gradients?.bytes ?? 0) }
        try SizeLimits.checkWorkingMemory(DecoderActivations.bytes(config: model.decoder.config, batch: B, sequence: T), held: held,
                                          what: "stage '\(stage.name)': the activations of \(B) x \(T) tokens (per_device_train_batch_size x model_max_length)",
                                          remedy: "lower per_device_train_batch_size (raising gradient_accumulation_steps keeps the batch) or model_max_length")
    }

    /// Makes the stage's `trainable` tensors train (a text stage: the decoder's only); returns their
    /// names. Without `trainable` in the recipe, a decoder with LoRA trains through LoRA alone.
    static func setTrainable(_ stage: Stage, _ model: AnyModel) throws -> [String] {
        let patterns = stage.trainablePatterns(lora: model.decoder.config.lora != nil)
        let trainable = model.setTrainable(matching: patterns, decoderOnly: !stage.kind.isMultimodal)
        guard !trainable.isEmpty else {
            throw TrainError("stage '\(stage.name)': 'trainable' \(patterns) matches no parameter (names look like model.layers.0.mlp.up_proj.weight, multi_modal_projector.linear_1.weight, vision_tower.vision_model.*)")
        }
        return trainable
    }

    /// Optimizer steps for `epochs` passes over `dataset` at `batch` samples per step.
    static func steps(epochs: Double, of dataset: StageDataset, batch: Int) -> Int {
        max(1, Int((epochs * Double(max(1, dataset.samplesPerEpoch)) / Double(batch)).rounded(.up)))
    }

    /// "stage 'chat' (text): 1692 samples, 124609 tokens; template chatml; 200 steps of 16x128; 38/95 tensors train (…)".
    static func summary(_ stage: Stage, dataset: StageDataset, totalSteps: Int, trainable: [String], model: AnyModel) -> String {
        let T = stage.modelMaxLength, names = Set(trainable), all = model.parameterSets.flatMap(\.table)
        let trainableCount = all.filter { names.contains($0.name) }.reduce(0) { $0 + $1.count }
        return "stage '\(stage.name)' (\(stage.kind.rawValue)): \(dataset.sources.map(\.count).reduce(0, +)) samples, \(dataset.totalTokens) tokens"
            + (dataset.images.isEmpty ? "" : ", \(dataset.images.count) images")
            + (dataset.skipped > 0 ? ", \(dataset.skipped) bad samples skipped" : "")
            + (dataset.truncated > 0 ? ", \(dataset.truncated) truncated to \(T + 1) tokens" : "")
            + (dataset.chatFormat.map { "; template \($0.template.rawValue)" + ($0.defaultSystem == nil ? "" : " (with its default system prompt)") } ?? "")
            + "; \(totalSteps) steps of \(stage.batchSize)x\(T)" + (stage.gradientAccumulationSteps > 1 ? " x\(stage.gradientAccumulationSteps)" : "")
            + "; \(trainable.count)/\(all.count) tensors train (\(trainableCount) of \(model.parameterCount) parameters)"
    }

    /// Where the run stands after this stage's last step (for a checkpoint).
    func state(globalStep: Int, seed: UInt64, loss: Float) -> TrainerState {
        TrainerState(stage: stage.name, stageIndex: index, step: step, totalSteps: totalSteps, globalStep: globalStep,
                     dataPosition: batcher.position, seed: seed, loss: loss)
    }

    /// Advances the stage's step count (after an optimizer update).
    func advance() { step += 1 }
}
