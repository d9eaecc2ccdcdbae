import Data
import Foundation
import Support
import Infer
import Model
import Tensor
import Tokenizer

/// How `Trainer.run` reports and where it starts.
public struct TrainOptions {
    /// Continue from the checkpoint `OUTPUT/latest` names (a fresh start when there is none).
    public var resume = false
    /// Draw a progress line in place (a terminal) instead of periodic log lines.
    public var terminal = false
    /// Stop after this many optimizer steps of the run (tests use it to interrupt a run).
    public var stopAfterGlobalStep: Int?
    /// Called after each checkpoint file is written; may throw to simulate a crash (tests only).
    public var checkpointFailpoint: ((String) throws -> Void)?
    public var log: (String) -> Void = { print($0) }

    public init() {}
}

/// What a run did.
public struct TrainSummary: Sendable {
    /// Loss of every optimizer step this process ran, in order.
    public var losses: [Float] = []
    public var finalCheckpoint: String?
    public var seconds: Double = 0
    /// Generation results: (prompt, completion, correct?) for `generate.prompts`.
    public var samples: [(prompt: String, completion: String, correct: Bool?)] = []
}

/// Runs the stages of a recipe in order, each from the weights the previous one ended with.
///
/// Per optimizer step: `gradient_accumulation_steps` micro-batches (forward, loss, backward
/// into the gradient arena, each scaled by 1/(tokens · steps)), global-norm clipping, AdamW at the
/// scheduled rate, a `metrics.jsonl` record and TensorBoard scalars; checkpoints every
/// `save_steps` and at the end of each stage.
public final class Trainer {
    public let recipe: Recipe
    let recipeYAML: String
    let options: TrainOptions
    let fm = FileManager.default

    public init(recipe: Recipe, options: TrainOptions = TrainOptions()) throws {
        self.recipe = recipe
        recipeYAML = try RecipeLoader.yaml(recipe)
        self.options = options
    }

    func log(_ s: String) { options.log(s) }

    public func run() throws -> TrainSummary {
        let started = Date()
        let out = recipe.outputDir
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        var summary = TrainSummary()

        // Where to start: the latest checkpoint (resume) or the recipe's model.
        var model: TrainedModel, tokenizer: SentencePieceTokenizer, state: TrainerState?
        if options.resume, let dir = try Checkpoint.latest(outputDir: out) {
            model = try TrainedModel.load(dir)
            tokenizer = try SentencePieceTokenizer(path: dir + "/tokenizer.model")
            state = try Checkpoint.readState(dir)
            log("resuming from \(dir) (stage '\(state!.stage)', step \(state!.step)/\(state!.totalSteps))")
            guard state!.stageIndex < recipe.stages.count, recipe.stages[state!.stageIndex].name == state!.stage else {
                throw TrainError("\(dir): stage '\(state!.stage)' is not stage \(state!.stageIndex) of the recipe")
            }
        } else {
            if options.resume { log("no checkpoint in \(out): starting from the beginning") }
            (model, tokenizer) = try initialModel()
            state = nil
        }
        let decoder = model.decoder
        let metrics = try MetricsLog(path: out + "/metrics.jsonl", keepThrough: state?.globalStep ?? 0)
        let board = try TensorBoardWriter(directory: out + "/runs")
        let pad = tokenizer.padID ?? tokenizer.eosID ?? 0
        var globalStep = state?.globalStep ?? 0
        let evaluation = try recipe.eval.map {
            try StageEvaluation(spec: $0, stages: recipe.stages.map(\.name), outputDir: out, log: options.log)
        }
        if let e = evaluation, state == nil { try e.evaluate(StageEvaluation.initial, model: model, tokenizer: tokenizer) }

        for (stageIndex, stage) in recipe.stages.enumerated() {
            if let s = state, stageIndex < s.stageIndex || (stageIndex == s.stageIndex && s.stageComplete) {
                // A run stopped between a stage's last checkpoint and its evaluation: the weights are that checkpoint's.
                if let e = evaluation, stageIndex == s.stageIndex, !e.isDone(stage.name) {
                    try e.evaluate(stage.name, model: model, tokenizer: tokenizer)
                }
                continue
            }
            let resumeHere = state.flatMap { $0.stageIndex == stageIndex ? $0 : nil }
            let B = stage.batchSize, T = stage.modelMaxLength, accumulation = stage.gradientAccumulationSteps
            guard T <= decoder.config.maxPositionEmbeddings else {
                throw TrainError("stage '\(stage.name)': model_max_length \(T) exceeds the model's max_position_embeddings \(decoder.config.maxPositionEmbeddings)")
            }
            let multimodal = stage.kind.isMultimodal ? model.multimodal : nil
            model.multimodal?.moeEnabled = stage.usesParrotMoE
            if stage.kind.isMultimodal && multimodal == nil {
                throw TrainError("stage '\(stage.name)' (\(stage.kind.rawValue)) needs a vision tower: add 'model.vision' to the recipe or start from a multimodal base")
            }
            let trainable = model.setTrainable(matching: stage.trainable, decoderOnly: !stage.kind.isMultimodal)
            guard !trainable.isEmpty else {
                throw TrainError("stage '\(stage.name)': 'trainable' \(stage.trainable) matches no parameter (names look like model.layers.0.mlp.up_proj.weight, multi_modal_projector.linear_1.weight, vision_tower.vision_model.*)")
            }
            let vision = multimodal.map(StageDataset.Vision.init(model:))
            var dataset = try StageDataset(sources: stage.data, baseDirectory: fm.currentDirectoryPath, tokenizer: tokenizer,
                                           template: stage.template, system: stage.systemPrompt, sequenceLength: T,
                                           skipBadSamples: stage.skipBadSamples, vision: vision)
            if let replay = stage.replay {
                dataset = try withReplay(dataset, replay, stageIndex: stageIndex, tokenizer: tokenizer, vision: vision)
            }
            let evalSet = stage.evalData.isEmpty ? nil : try StageDataset(
                sources: stage.evalData, baseDirectory: fm.currentDirectoryPath, tokenizer: tokenizer, template: stage.template,
                system: stage.systemPrompt, sequenceLength: T, skipBadSamples: stage.skipBadSamples, vision: vision)
            let perEpoch = max(1, dataset.samplesPerEpoch)
            let totalSteps = stage.maxSteps ?? max(1, Int((stage.numTrainEpochs! * Double(perEpoch) / Double(B * accumulation)).rounded(.up)))
            let trainableNames = Set(trainable)
            let allTensors = model.parameterSets.flatMap(\.table)
            let trainableCount = allTensors.filter { trainableNames.contains($0.name) }.reduce(0) { $0 + $1.count }
            log("stage '\(stage.name)' (\(stage.kind.rawValue)): \(dataset.sources.map(\.count).reduce(0, +)) samples, \(dataset.totalTokens) tokens"
                + (dataset.images.isEmpty ? "" : ", \(dataset.images.count) images")
                + (dataset.skipped > 0 ? ", \(dataset.skipped) bad samples skipped" : "")
                + (dataset.truncated > 0 ? ", \(dataset.truncated) truncated to \(T + 1) tokens" : "")
                + "; \(totalSteps) steps of \(B)x\(T)" + (accumulation > 1 ? " x\(accumulation)" : "")
                + "; \(trainable.count)/\(allTensors.count) tensors train (\(trainableCount) of \(model.parameterCount) parameters)")

            let runner = StepRunner(model: model, multimodal: multimodal, batch: B, sequence: T, pad: pad)
            let optimizer = AdamW(parameterSets: model.parameterSets, config: stage.adamW, lrMultiplier: stage.lrMultiplier(for:))
            var step = 0, position = Batcher.Position()
            let ewc = stage.ewc.map { EWC(parameterSets: model.parameterSets, lambda: $0.lambda) }
            let distillation = try stage.distillation.map { spec in
                let data = try StageDataset(samples: textOnlyPool(spec.data, template: spec.template, stageIndex: stageIndex, key: "distillation",
                                                                  tokenizer: tokenizer, sequenceLength: T, vision: vision), sequenceLength: T)
                return Distillation(spec: spec, student: decoder, dataset: data, batch: B, seed: recipe.seed &+ UInt64(stageIndex) &* 15_485_863,
                                    step: resumeHere?.step ?? 0)
            }
            if let d = distillation {
                log(String(format: "distillation: teacher = the weights at the start of '%@' (%d tensors copied, the rest shared; %.1f MiB), "
                           + "one text-only batch of %d from %d samples per step, weight %g, temperature %g",
                           stage.name, d.namedState.count, Double(d.bytes) / 1_048_576, B, d.batcher.dataset.samplesPerEpoch,
                           d.spec.weight, d.spec.temperature))
            }
            if stage.featureAugmentation != nil, decoder.config.numHiddenLayers == 0 {
                throw TrainError("stage '\(stage.name)': feature_augmentation needs a decoder with at least one layer")
            }
            let augmentation = stage.featureAugmentation.map {
                FeatureAugmentation(beta: $0.beta, replaySource: Int32(dataset.sources.count - 1), seed: recipe.seed &+ UInt64(stageIndex) &* 32_452_843)
            }
            if let a = augmentation { log("feature augmentation: replayed samples shifted at a random layer by up to β = \(a.beta) of their norm") }
            let extraState = (ewc?.namedState ?? []) + (distillation?.namedState ?? [])
            if let s = resumeHere, let dir = try Checkpoint.latest(outputDir: out) {
                try Checkpoint.restore(optimizer, extraState: extraState, from: dir)
                step = s.step
                position = s.dataPosition
            } else if let ewc, let spec = stage.ewc {
                try estimateFisher(ewc, spec, stageIndex: stageIndex, runner: runner, tokenizer: tokenizer)
            }
            let batcher = Batcher(dataset: dataset, batchSize: B, seed: recipe.seed &+ UInt64(stageIndex) &* 1_000_003, position: position)
            let schedule = LRSchedule(kind: stage.lrSchedulerType, lr: stage.learningRate, warmupSteps: stage.warmupSteps,
                                      totalSteps: totalSteps, minLRRatio: stage.minLRRatio)
            let progress = Progress(label: stage.name, total: totalSteps, startStep: step, every: stage.loggingSteps,
                                    terminal: options.terminal, log: options.log)
            var lastLoss: Float = .nan

            func save() throws {
                let st = TrainerState(stage: stage.name, stageIndex: stageIndex, step: step, totalSteps: totalSteps, globalStep: globalStep,
                                      dataPosition: batcher.position, seed: recipe.seed, loss: lastLoss)
                let dir = try Checkpoint.save(outputDir: out, model: model, tokenizer: tokenizer, optimizer: optimizer, state: st,
                                              recipeYAML: recipeYAML, extraState: extraState, failpoint: options.checkpointFailpoint)
                try Checkpoint.prune(outputDir: out, keep: recipe.saveTotalLimit)
                summary.finalCheckpoint = dir
            }

            while step < totalSteps {
                if let stop = options.stopAfterGlobalStep, globalStep >= stop {
                    progress.interrupt()
                    summary.seconds = Date().timeIntervalSince(started)
                    return summary
                }
                let t0 = Date()
                for p in model.parameterSets { p.zeroGradients() }
                var lossSum: Float = 0, ewcPenalty: Float?
                for micro in 0..<accumulation {
                    runner.load(batcher)
                    let (loss, count) = augmentation?.forwardLoss(runner, draw: step * accumulation + micro) ?? runner.forwardLoss()
                    runner.backward(lossScale: count > 0 ? 1 / (Float(count) * Float(accumulation)) : 0)
                    lossSum += loss
                }
                var distillationLoss: Float?
                if let distillation {
                    // + weight · τ² · KL(teacher ‖ student) on one text-only batch
                    distillationLoss = distillation.step(runner, scale: 1)
                    lossSum += Float(accumulation) * distillationLoss!
                }
                if let ewc {
                    // L + (λ/2) Σ F (θ − θ*)²
                    ewc.addGradient()
                    ewcPenalty = ewc.penalty()
                    lossSum += Float(accumulation) * ewcPenalty!
                }
                let gradNorm = GradientClipping.clip(model.parameterSets, maxNorm: stage.maxGradNorm)
                let lr = schedule.rate(at: step)
                optimizer.update(lr: lr)
                step += 1
                globalStep += 1
                lastLoss = lossSum / Float(accumulation)
                guard lastLoss.isFinite else {
                    progress.interrupt()
                    throw TrainError("stage '\(stage.name)' step \(step): the loss is \(lastLoss); lower learning_rate (\(stage.learningRate)) or check the data")
                }
                summary.losses.append(lastLoss)
                let tokensPerSecond = Double(B * T * accumulation) / max(Date().timeIntervalSince(t0), 1e-9)
                var record: [String: Any] = ["stage": stage.name, "step": step, "global_step": globalStep, "loss": Double(lastLoss),
                                             "lr": Double(lr), "grad_norm": Double(gradNorm), "tokens_per_s": tokensPerSecond.rounded(),
                                             "epoch": batcher.position.epoch]
                // `loss` is the whole objective; the strategies' terms are also recorded alone
                var terms: [(String, Float)] = []
                if let distillationLoss { terms.append(("distillation_loss", distillationLoss)) }
                if let ewcPenalty { terms.append(("ewc_penalty", ewcPenalty)) }
                if !terms.isEmpty {
                    let task = lossSum / Float(accumulation) - terms.reduce(0) { $0 + $1.1 }
                    terms.insert(("task_loss", task), at: 0)
                }
                for (key, value) in terms { record[key] = Double(value) }
                try metrics.write(record)
                try board.scalars([("train/loss", lastLoss), ("train/lr", lr), ("train/grad_norm", gradNorm),
                                   ("train/tokens_per_s", Float(tokensPerSecond))] + terms.map { ("train/" + $0.0, $0.1) }, step: globalStep)
                progress.update(step: step, loss: lastLoss, lr: lr, tokensPerSecond: tokensPerSecond)

                let last = step == totalSteps
                if let e = evalSet, let every = stage.evalSteps, step % every == 0 || last {
                    let loss = evaluate(e, runner)
                    progress.interrupt()
                    log(String(format: "[%@] step %d: eval loss %.4f", stage.name, step, loss))
                    try metrics.write(["stage": stage.name, "step": step, "global_step": globalStep, "eval_loss": Double(loss)])
                    try board.scalars([("eval/loss", loss)], step: globalStep)
                }
                if last || (stage.saveSteps.map { step % $0 == 0 } ?? false) { try save() }
            }
            log(String(format: "stage '%@' done: final loss %.4f", stage.name, lastLoss))
            if let e = evaluation { try e.evaluate(stage.name, model: model, tokenizer: tokenizer) }
        }
        if let dir = try Checkpoint.latest(outputDir: out) {
            summary.finalCheckpoint = dir
            log("latest checkpoint: \(dir)")
        }
        if let g = recipe.generate { summary.samples = try sample(decoder, tokenizer, g) }
        if let e = evaluation, !e.table.isEmpty { log("\n" + e.table) }
        summary.seconds = Date().timeIntervalSince(started)
        var record: [String: Any] = ["seed": recipe.seed, "seconds": summary.seconds, "global_steps": globalStep, "resumed": state != nil]
        if let loss = summary.losses.last, loss.isFinite { record["final_loss"] = Double(loss) }
        try AtomicFile.write(JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys]),
                                           to: out + "/" + Self.summaryFile)
        return summary
    }

    /// Written into the output directory at the end of a run: seed, wall seconds (of this
    /// process: a resumed run counts from its restart), steps, final loss.
    public static let summaryFile = "run_summary.json"

    /// The model and tokenizer the first stage starts from: the base checkpoint or a new decoder,
    /// with a new vision tower and projector attached when `model.vision` asks for them.
    func initialModel() throws -> (TrainedModel, SentencePieceTokenizer) {
        guard let tokenizerPath = recipe.tokenizer ?? recipe.model.base.map({ $0 + "/tokenizer.model" }) else {
            throw TrainError("the recipe names no tokenizer")
        }
        var tokenizer = try SentencePieceTokenizer(path: tokenizerPath)
        if !recipe.specialTokens.isEmpty { tokenizer = try tokenizer.addingPieces(recipe.specialTokens) }
        var decoder: DecoderModel
        if let base = recipe.model.base, MultimodalModel.isMultimodal(directory: base) {
            let m = try MultimodalModel.load(base)
            guard tokenizer.vocabularySize <= m.config.textConfig.vocabSize else {
                throw TrainError("\(base): the tokenizer has \(tokenizer.vocabularySize) pieces but the multimodal model \(m.config.textConfig.vocabSize) rows")
            }
            log("model: \(base) (multimodal, \(m.parameterCount) parameters)")
            var model = m
            if let wings = recipe.model.wings, m.config.textConfig.wings == nil {
                model = model.attachingWings(wings, seed: recipe.seed &+ 3)
                log("wings: \(wingsSummary(model.decoder))")
            }
            if let parrot = recipe.model.parrot, model.config.parrot == nil {
                model = try model.attachingParrot(parrot, seed: recipe.seed &+ 4)
                log("parrot: \(parrotSummary(model))")
            }
            return (.multimodal(model), tokenizer)
        } else if let base = recipe.model.base {
            decoder = try ModelDirectory.loadDecoder(base)
            log("model: \(base) (\(decoder.parameters.count) parameters)")
        } else {
            let config = recipe.model.architecture!
            guard config.vocabSize >= tokenizer.vocabularySize else {
                throw TrainError("model.architecture.vocab_size \(config.vocabSize) is smaller than the tokenizer's \(tokenizer.vocabularySize) pieces (\(tokenizerPath)\(recipe.specialTokens.isEmpty ? "" : " plus special_tokens"))")
            }
            decoder = DecoderModel(config: config)
            decoder.initialize(seed: recipe.seed, std: recipe.model.initializerRange ?? 0.02)
            log("model: new \(config.modelType) decoder, \(config.numHiddenLayers) layers x \(config.hiddenSize), \(decoder.parameters.count) parameters (seed \(recipe.seed))")
        }
        if tokenizer.vocabularySize > decoder.config.vocabSize {
            log("vocabulary: \(decoder.config.vocabSize) -> \(tokenizer.vocabularySize) rows (new rows start at the mean embedding)")
            decoder = decoder.resizingVocabulary(to: tokenizer.vocabularySize)
        }
        if let wings = recipe.model.wings, decoder.config.wings == nil {
            try wings.validate(file: "'model.wings'", layerCount: decoder.config.numHiddenLayers)
            decoder = decoder.attachingWings(wings, seed: recipe.seed &+ 3)
            log("wings: \(wingsSummary(decoder))")
        }
        guard let v = recipe.model.vision else { return (.text(decoder), tokenizer) }
        guard let imageToken = tokenizer.id(of: SpecialTokens.image) else {
            throw TrainError("\(tokenizerPath): the tokenizer has no '\(SpecialTokens.image)' piece; add it with special_tokens")
        }
        var config = MultimodalConfig(textConfig: decoder.config, visionConfig: v.architecture, projectorType: v.projectorType,
                                      visionFeatureLayer: v.visionFeatureLayer, visionFeatureSelectStrategy: v.visionFeatureSelectStrategy,
                                      imageTokenIndex: Int(imageToken))
        config.parrot = recipe.model.parrot
        try config.validate(file: "'model.vision'")
        let m = MultimodalModel(config: config)
        m.decoder.parameters.values.all.copy(from: decoder.parameters.values.all)
        m.encoder.initialize(seed: recipe.seed &+ 1, std: recipe.model.initializerRange ?? 0.02)
        m.projector.initialize(seed: recipe.seed &+ 2, std: recipe.model.initializerRange ?? 0.02)
        m.moe?.initialize(seed: recipe.seed &+ 4)
        if m.moe != nil { log("parrot: \(parrotSummary(m))") }
        log("vision: new \(v.architecture.modelType) tower, \(v.architecture.imageSize) px, patch \(v.architecture.patchSize), width \(v.architecture.hiddenSize), "
            + "\(v.architecture.numHiddenLayers) layers; \(v.projectorType.rawValue) projector; \(m.imageTokens) visual tokens per image "
            + "(\(m.encoder.parameters.count + m.projector.parameters.count) parameters)")
        return (.multimodal(m), tokenizer)
    }

    /// "visual and textual learners of rank r on layers …, N parameters".
    func wingsSummary(_ decoder: DecoderModel) -> String {
        let w = decoder.config.wings!
        let count = decoder.parameters.table.filter { $0.name.contains(".wings.") }.reduce(0) { $0 + $1.count }
        return "visual and textual learners of rank \(w.rank) and a router over \(w.routerMaxKeys) keys on layers "
            + "\(w.chosenLayers(of: decoder.config.numHiddenLayers).map(String.init).joined(separator: ",")) (\(count) parameters, B = 0: no change yet)"
    }

    /// "E SwiGLU experts of width I on the visual tokens, λ = …, N parameters".
    func parrotSummary(_ m: MultimodalModel) -> String {
        let p = m.config.parrot!
        return "\(p.numExperts) SwiGLU experts of width \(p.intermediateSize) on the visual tokens, guided by the class token over the prompt, "
            + "λ = \(p.residualScale)\(p.topK.map { ", top-\($0)" } ?? ", dense") (\(m.moe!.parameters.count) parameters)"
    }

    /// Mean loss over every sample of `dataset`, batched like training.
    func evaluate(_ dataset: StageDataset, _ runner: StepRunner) -> Float {
        let B = runner.text.batch, T = runner.text.sequence
        let evalBatcher = Batcher(dataset: dataset, batchSize: B, seed: 0)
        var sum = 0.0, count = 0, remaining = dataset.samplesPerEpoch
        while remaining > 0 {
            runner.load(evalBatcher)
            // The last batch wraps into the next epoch: its extra rows score nothing.
            if remaining < B { (runner.text.targets + remaining * T).update(repeating: -100, count: (B - remaining) * T) }
            remaining -= B
            let (loss, n) = runner.forwardLoss()
            sum += Double(loss) * Double(n)
            count += n
        }
        return count > 0 ? Float(sum / Double(count)) : .nan
    }

    /// Completes the recipe's prompts (BOS + prompt) and checks them against `expect`.
    func sample(_ decoder: DecoderModel, _ tokenizer: SentencePieceTokenizer, _ g: GenerationSpec) throws -> [(String, String, Bool?)] {
        let bos = tokenizer.bosID.map { [$0] } ?? []
        var stop = Set<Int32>()
        if let eos = tokenizer.eosID { stop.insert(eos) }
        if let end = tokenizer.id(of: SpecialTokens.turnEnd) { stop.insert(end) }
        var results: [(String, String, Bool?)] = []
        log("samples (\(g.temperature == 0 ? "greedy" : "temperature \(g.temperature)")):")
        for (i, prompt) in g.prompts.enumerated() {
            let ids = bos + tokenizer.encode(prompt)
            guard ids.count < decoder.config.maxPositionEmbeddings else {
                log("  · \(prompt.prefix(40))…: skipped, \(ids.count) tokens do not fit the context of \(decoder.config.maxPositionEmbeddings)")
                results.append((prompt, "", false))
                continue
            }
            let new = try Generator.generate(decoder, prompt: ids, maxNewTokens: min(g.maxNewTokens, decoder.config.maxPositionEmbeddings - ids.count),
                                             options: SamplingOptions(temperature: g.temperature, seed: recipe.seed), stopTokens: stop)
            let full = tokenizer.decode(ids.dropFirst(bos.count) + new)
            let promptText = tokenizer.decode(Array(ids.dropFirst(bos.count)))
            let completion = full.hasPrefix(promptText) ? String(full.dropFirst(promptText.count)) : tokenizer.decode(new)
            let correct = g.expect.map { completion.trimmingCharacters(in: .whitespaces).hasPrefix($0[i].trimmingCharacters(in: .whitespaces)) }
            let mark = correct.map { $0 ? "✓" : "✗" } ?? "·"
            log("  \(mark) \(prompt) ▸\(completion)")
            results.append((prompt, completion, correct))
        }
        if g.expect != nil {
            let right = results.filter { $0.2 == true }.count
            log("  \(right)/\(results.count) completions start with the expected answer")
        }
        return results
    }
}

/// One batch's forward and backward pass, for the decoder alone (text stages) or the whole
/// multimodal model (its images copied into the tower's pixels and spliced over `<image>` slots).
final class StepRunner {
    let model: TrainedModel
    let multimodal: MultimodalModel?
    let pad: Int32
    /// The decoder's activations (B, T): tokens, targets, mask, logits.
    let text: DecoderActivations
    let mm: MultimodalActivations?
    /// Each sequence's image index in the dataset, or −1.
    private var images: [Int32]
    /// Each sequence's source index in the batcher's dataset.
    private(set) var rowSources: [Int32]

    init(model: TrainedModel, multimodal: MultimodalModel?, batch B: Int, sequence T: Int, pad: Int32) {
        self.model = model
        self.multimodal = multimodal
        self.pad = pad
        mm = multimodal?.makeActivations(batch: B, sequence: T)
        text = mm?.text ?? DecoderActivations(config: model.decoder.config, batch: B, sequence: T)
        images = Array(repeating: -1, count: B)
        rowSources = Array(repeating: -1, count: B)
    }

    /// Fills the next batch of `batcher`.
    func load(_ batcher: Batcher) {
        images.withUnsafeMutableBufferPointer { images in
            rowSources.withUnsafeMutableBufferPointer { sources in
                batcher.next(tokens: text.tokens, targets: text.targets, attentionMask: text.attentionMask, pad: pad,
                             images: images.baseAddress, sources: sources.baseAddress)
            }
        }
        guard let mm, let m = multimodal else { return }
        mm.resetImages()
        let size = 3 * m.config.visionConfig.imageSize * m.config.visionConfig.imageSize
        for (b, index) in images.enumerated() where index >= 0 {
            batcher.dataset.images[Int(index)].withUnsafeBufferPointer { (mm.vision.pixels.data + b * size).update(from: $0.baseAddress!, count: size) }
            mm.assignImage(b, toSequence: b, imageToken: Int32(m.config.imageTokenIndex), visualTokens: m.imageTokens)
            mm.imageCount += 1
        }
    }

    /// The loaded batch through the model: logits in `text.logits`.
    func forward() {
        if let mm, let m = multimodal { m.forward(mm) } else { model.decoder.forward(text) }
    }

    /// Parrot's optional load-balance term of the last forward (0 unless load_balance_weight > 0).
    var balanceLoss: Float {
        multimodal.flatMap { m in m.moeActive && (mm?.imageCount ?? 0) > 0 ? mm?.moe?.balanceLoss : nil } ?? 0
    }

    func forwardLoss() -> (loss: Float, count: Int) {
        forward()
        let (loss, count) = model.decoder.loss(text)
        return (loss + balanceLoss, count)
    }

    func backward(lossScale: Float) {
        if let mm, let m = multimodal { m.backward(mm, lossScale: lossScale) } else { model.decoder.backward(text, lossScale: lossScale) }
    }
}

extension StageDataset.Vision {
    /// How `model`'s images are prepared and spliced: its tower's size and normalisation, its
    /// `<image>` id and visual tokens per image.
    init(model m: MultimodalModel) {
        self.init(preprocessor: ImagePreprocessor(size: m.config.visionConfig.imageSize, mean: m.config.imageMean, std: m.config.imageStd),
                  imageToken: Int32(m.config.imageTokenIndex), tokensPerImage: m.imageTokens)
    }
}
