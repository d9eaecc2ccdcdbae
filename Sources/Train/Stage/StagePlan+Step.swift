import Foundation
import Model

extension StagePlan {
    /// One optimizer step, as llm.c's loop reads:
    ///
    ///     for each of the A micro-batches:  load → forward (a strategy may replace it) → backward
    ///     the strategies' loss terms (each adds its gradient) → clip → AdamW at the scheduled rate
    ///
    /// Each micro-batch's backward is scaled by 1/(its scored tokens · A), so the gradients are
    /// those of the mean loss. Returns the step's record (`globalStep`: the run's step count after it).
    func runStep(globalStep: Int) -> StepRecord {
        let started = Date()
        for p in model.parameterSets { p.zeroGradients() }
        var loss = StepLoss(accumulation: accumulation)
        for micro in 0..<accumulation {
            runner.load(batcher)
            let index = step * accumulation + micro
            let (value, count) = strategies.lazy.compactMap { $0.forwardLoss(self.runner, microBatch: index) }.first ?? runner.forwardLoss()
            runner.backward(lossScale: count > 0 ? 1 / (Float(count) * Float(accumulation)) : 0)
            loss.microBatchSum += value
        }
        loss.terms = strategies.compactMap { $0.lossTerm(step: step) }
        let gradNorm = GradientClipping.clip(model.parameterSets, maxNorm: stage.maxGradNorm)
        let lr = schedule.rate(at: step)
        optimizer.update(lr: lr)
        advance()
        let tokensPerSecond = Double(batchSize * sequenceLength * accumulation) / max(Date().timeIntervalSince(started), 1e-9)
        return StepRecord(stage: stage.name, step: step, globalStep: globalStep, loss: loss, lr: lr, gradNorm: gradNorm,
                          tokensPerSecond: tokensPerSecond, epoch: batcher.position.epoch)
    }
}
