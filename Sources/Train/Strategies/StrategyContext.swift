import Data
import Model

/// What a strategy may know of its stage when it is built.
struct StrategyContext {
    let stage: Stage
    let index: Int
    /// The stages before this one, in order (the data replay and distillation draw on, EWC's previous stage).
    let earlier: [Stage]
    let model: AnyModel
    /// Builds datasets with this stage's tokenizer, sequence length and image handling.
    let data: DatasetBuilder
    let seeds: StageSeeds
    /// Optimizer steps of this stage already taken (0, or where a resumed stage stands).
    let startStep: Int
    /// Samples of a micro-batch over all the ranks of a data-parallel job (the stage's batch
    /// size times the ranks): what a strategy that every rank runs alike (EWC's Fisher, the
    /// distillation batch) draws, so that each rank computes what one process at this batch would.
    let globalBatch: Int
    /// The recipe's `model.base`: the model before the recipe's first stage (two-teacher
    /// distillation's first teacher), nil for a model initialised from the seed.
    let base: String?
    /// Lines a strategy logs while it works (replay's buffer when it extends the data, EWC's
    /// Fisher when it is estimated); fixed descriptions go in `description`.
    let log: (String) -> Void
}

/// The strategies a stage's recipe asks for, in the order the step applies them.
enum StageStrategies {
    static func make(_ context: StrategyContext) throws -> [any ContinualStrategy] {
        let made: [(any ContinualStrategy)?] = [
            try Replay.make(context),               // extends the data first: feature augmentation shifts its samples
            try Distillation.make(context),
            try FeatureAugmentation.make(context),  // replaces the forward of micro-batches with replayed samples
            EWC.make(context),                      // its penalty is added after distillation's term
            try TwoTeacherDistillation.make(context),
        ]
        return made.compactMap { $0 }
    }
}
