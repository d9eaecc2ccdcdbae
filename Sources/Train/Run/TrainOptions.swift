import Collective
import Foundation

/// How `Trainer.run` reports and where it starts.
public struct TrainOptions {
    /// Continue from the checkpoint `OUTPUT/latest` names (a fresh start when there is none).
    public var resume = false
    /// Replace an earlier run in the output directory (`--overwrite`, or the recipe's `overwrite_output_dir`).
    public var overwrite = false
    /// Draw a progress line in place (a terminal) instead of periodic log lines.
    public var terminal = false
    /// Stop after this many optimizer steps of the run (tests use it to interrupt a run).
    public var stopAfterGlobalStep: Int?
    /// Called after each checkpoint file is written; may throw to simulate a crash (tests only).
    public var checkpointFailpoint: ((String) throws -> Void)?
    public var log: (String) -> Void = { print($0) }
    /// The processes the run spans: one, or the ranks of an MPI job (`World.join()`). Rank 0
    /// alone takes the output directory and writes checkpoints, logs and reports.
    public var communicator: any Communicator = SingleProcess()

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
