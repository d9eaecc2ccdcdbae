import Data
import Model
import Tensor

/// A continual-learning strategy in one stage, behind one protocol: what it adds to the stage's
/// data, whether it replaces the forward pass of a micro-batch, what it adds to the loss, and
/// the state a checkpoint keeps. Every hook has a default that does nothing.
///
/// The training step calls, in order (`StagePlan.runStep`):
///
///     for each micro-batch:  load → forwardLoss (or the plain forward) → backward (+ extraGradients)
///     lossTerm               (each strategy adds its gradient and names its term)
///     clip → AdamW       (stageDidFinish after the stage's last step)
///
/// A new strategy is one new file: a type conforming to this protocol with a `make(_:)` that
/// reads its spec from the stage, added to `StageStrategies.make`. See "Adding a continual
/// strategy" in the documentation catalogue (Sources/Train/Train.docc).
protocol ContinualStrategy: AnyObject {
    /// Extends the stage's training data (replay adds its buffer). Called in strategy order
    /// before the batcher is built.
    func extend(_ data: StageDataset) throws -> StageDataset
    /// Lines for the training log, once the stage's data is known.
    var description: [String] { get }
    /// Before the first step of a stage that starts fresh (not when it resumes): EWC estimates its Fisher here.
    func prepare(_ runner: StepRunner) throws
    /// The loaded micro-batch's forward and loss in place of the plain `runner.forwardLoss()`
    /// (feature augmentation); nil: the plain forward. `index`: the micro-batch's index in the stage.
    func forwardLoss(_ runner: StepRunner, microBatch index: Int) -> (loss: Float, count: Int)?
    /// Gradients of the strategy's own loss on the micro-batch `forwardLoss` just ran, added during
    /// its backward pass (into the logits' and the visual tokens' gradients); nil: none.
    func extraGradients() -> ExtraGradients?
    /// After the task's backward passes: adds the strategy's own term to the gradients and
    /// returns it (its value in the step's loss), or nil.
    func lossTerm(step: Int) -> LossTerm?
    /// After the stage's last optimizer step, before its final checkpoint (weight averaging).
    func stageDidFinish()
    /// Tensors saved in the checkpoint beside AdamW's moments, restored when the stage resumes.
    var checkpointState: [(name: String, tensor: Tensor)] { get }
}

extension ContinualStrategy {
    func extend(_ data: StageDataset) throws -> StageDataset { data }
    var description: [String] { [] }
    func prepare(_ runner: StepRunner) throws {}
    func forwardLoss(_ runner: StepRunner, microBatch index: Int) -> (loss: Float, count: Int)? { nil }
    func extraGradients() -> ExtraGradients? { nil }
    func lossTerm(step: Int) -> LossTerm? { nil }
    func stageDidFinish() {}
    var checkpointState: [(name: String, tensor: Tensor)] { [] }
}
