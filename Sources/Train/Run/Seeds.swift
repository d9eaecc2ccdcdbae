/// Every random stream of a run, derived from the recipe's `seed` in one place: each stream has
/// a name instead of a magic number at its call site, and a new one is added here. (The formulas
/// are those runs have always used; stage 0's streams all start from the run seed itself.)
struct Seeds {
    let run: UInt64

    /// A new decoder's weights.
    var decoder: UInt64 { run }
    /// A new vision tower's weights.
    var visionTower: UInt64 { run &+ 1 }
    /// A new projector's weights.
    var projector: UInt64 { run &+ 2 }
    /// Wings' learners attached to a decoder.
    var wings: UInt64 { run &+ 3 }
    /// Parrot's mixture of experts.
    var parrot: UInt64 { run &+ 4 }
    /// LoRA's A matrices.
    var lora: UInt64 { run &+ 5 }

    /// The streams of stage `index`: each a large prime apart per stage.
    func stage(_ index: Int) -> StageSeeds { StageSeeds(run: run, stage: UInt64(index)) }

    /// Sampling the recipe's `generate` prompts.
    var generation: UInt64 { run }
}

/// The random streams of one stage.
struct StageSeeds {
    let run: UInt64
    let stage: UInt64

    /// The order of the stage's training samples.
    var batches: UInt64 { run &+ stage &* 1_000_003 }
    /// Which earlier samples fill the replay buffer.
    var replay: UInt64 { run &+ stage &* 7_919 }
    /// The order of the samples EWC's Fisher is estimated from.
    var fisher: UInt64 { run &+ stage &* 104_729 }
    /// The order of the distillation batches.
    var distillation: UInt64 { run &+ stage &* 15_485_863 }
    /// Feature augmentation's layers and shift sizes.
    var featureAugmentation: UInt64 { run &+ stage &* 32_452_843 }
}
