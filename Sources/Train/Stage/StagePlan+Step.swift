import Foundation
import Model

extension StagePlan {
    /// One optimizer step, as llm.c's loop reads:
    ///
    ///     for each of the A micro-batches:  load → forward (a strategy may replace it) → backward
    ///     allreduce (data-parallel ranks) → the strategies' loss terms (each adds its gradient) → clip → AdamW
    ///
    /// Each micro-batch's backward is scaled by 1/(its scored tokens · A), so the gradients are
    /// those of the mean loss. Across the ranks of a data-parallel job the tokens counted are
    /// the global micro-batch's (summed over the ranks before the backward), and the gradients
    /// are summed: the step is the one a single process takes at the global batch. The loss
    /// terms come after the sum, from state every rank holds alike, so each counts once.
    /// Returns the step's record (`globalStep`: the run's step count after it).
    func runStep(globalStep: Int) -> StepRecord {
        let started = Date(), ranks = communicator.size
        for p in model.parameterSets { p.zeroGradients() }
        var loss = StepLoss(accumulation: accumulation)
        var shares = [Double](repeating: 0, count: accumulation)  // this rank's part of each micro-batch's mean loss
        for micro in 0..<accumulation {
            runner.load(batcher)
            let index = step * accumulation + micro
            let (value, count) = strategies.lazy.compactMap { $0.forwardLoss(self.runner, microBatch: index) }.first ?? runner.forwardLoss()
            let total = communicator.sum(count)
            let extra = strategies.lazy.compactMap { $0.extraGradients() }.first ?? ExtraGradients()
            runner.backward(lossScale: total > 0 ? 1 / (Float(total) * Float(accumulation)) : 0, extra: extra)
            if ranks == 1 { loss.microBatchSum += value } else { shares[micro] = total > 0 ? Double(value) * Double(count) / Double(total) : 0 }
        }
        if ranks > 1 {
            for p in model.parameterSets { if let g = p.gradients { communicator.allreduceSum(g.base, count: g.used) } }
            communicator.allreduceSum(&shares)
            loss.microBatchSum = Float(shares.reduce(0, +))
        }
        loss.terms = strategies.compactMap { $0.lossTerm(step: step) }
        let gradNorm = GradientClipping.clip(model.parameterSets, maxNorm: stage.maxGradNorm)
        let lr = schedule.rate(at: step)
        optimizer.update(lr: lr)
        advance()
        if isComplete { for s in strategies { s.stageDidFinish() } }
        let tokensPerSecond = Double(batchSize * sequenceLength * accumulation * ranks) / max(Date().timeIntervalSince(started), 1e-9)
        return StepRecord(stage: stage.name, step: step, globalStep: globalStep, loss: loss, lr: lr, gradNorm: gradNorm,
                          tokensPerSecond: tokensPerSecond, epoch: batcher.position.epoch)
    }
}
