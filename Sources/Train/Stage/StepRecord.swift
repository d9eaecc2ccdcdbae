import Foundation

/// What one optimizer step did: the one record behind a `metrics.jsonl` line, the TensorBoard
/// scalars and the progress line.
///
/// `loss` is the whole objective; when a strategy adds a term, `task_loss` and each term
/// (`distillation_loss`, `ewc_penalty`) are recorded on their own too.
struct StepRecord: Encodable {
    let stage: String
    /// Optimizer steps done in this stage (1-based) and in the whole run.
    let step: Int
    let globalStep: Int
    let loss: Float
    let lr: Float
    let gradNorm: Float
    let tokensPerSecond: Double
    let epoch: Int
    /// The task's part of the loss and the strategies' terms (empty without strategy terms).
    let terms: [LossTerm]

    init(stage: String, step: Int, globalStep: Int, loss: StepLoss, lr: Float, gradNorm: Float, tokensPerSecond: Double, epoch: Int) {
        self.stage = stage
        self.step = step
        self.globalStep = globalStep
        self.loss = loss.total
        self.lr = lr
        self.gradNorm = gradNorm
        self.tokensPerSecond = tokensPerSecond
        self.epoch = epoch
        terms = loss.terms.isEmpty ? [] : [LossTerm(name: "task_loss", value: loss.task)] + loss.terms
    }

    /// TensorBoard: `train/loss`, `train/lr`, `train/grad_norm`, `train/tokens_per_s`, then `train/<term>`.
    var scalars: [(String, Float)] {
        [("train/loss", loss), ("train/lr", lr), ("train/grad_norm", gradNorm), ("train/tokens_per_s", Float(tokensPerSecond))]
            + terms.map { ("train/" + $0.name, $0.value) }
    }

    private struct Key: CodingKey {
        let stringValue: String
        init(_ s: String) { stringValue = s }
        init?(stringValue s: String) { stringValue = s }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// One flat JSON object (floats written as doubles, the way they print in Python).
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(stage, forKey: Key("stage"))
        try c.encode(step, forKey: Key("step"))
        try c.encode(globalStep, forKey: Key("global_step"))
        try c.encode(Double(loss), forKey: Key("loss"))
        try c.encode(Double(lr), forKey: Key("lr"))
        try c.encode(Double(gradNorm), forKey: Key("grad_norm"))
        try c.encode(tokensPerSecond.rounded(), forKey: Key("tokens_per_s"))
        try c.encode(epoch, forKey: Key("epoch"))
        for t in terms { try c.encode(Double(t.value), forKey: Key(t.name)) }
    }
}

/// A held-out evaluation during a stage (`eval_data`, every `eval_steps`).
struct EvalRecord: Encodable {
    let stage: String
    let step: Int
    let globalStep: Int
    let evalLoss: Float

    enum CodingKeys: String, CodingKey { case stage, step, globalStep = "global_step", evalLoss = "eval_loss" }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stage, forKey: .stage)
        try c.encode(step, forKey: .step)
        try c.encode(globalStep, forKey: .globalStep)
        try c.encode(Double(evalLoss), forKey: .evalLoss)
    }
}
