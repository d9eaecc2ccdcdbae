/// One named term of a step's loss (`distillation_loss`, `ewc_penalty`), logged on its own too.
struct LossTerm {
    let name: String
    let value: Float
}

/// A step's loss: the task's, summed over the micro-batches, and the strategies' terms; every
/// loss value a step reports comes from here.
///
///     total = (Σ_micro task + A · Σ_terms term) / A        task = total − Σ_terms term
///
/// (A: gradient_accumulation_steps; each micro-batch's task loss is its mean over its scored
/// tokens, Parrot's balance term included).
struct StepLoss {
    var microBatchSum: Float = 0
    let accumulation: Int
    var terms: [LossTerm] = []

    var total: Float { terms.reduce(microBatchSum) { $0 + Float(accumulation) * $1.value } / Float(accumulation) }
    var task: Float { total - terms.reduce(0) { $0 + $1.value } }
}
