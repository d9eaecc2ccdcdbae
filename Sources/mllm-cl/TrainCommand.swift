import ArgumentParser
import Collective
import Foundation
import Train

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Run every stage of a recipe (data-parallel under mpirun).",
        discussion: """
            Writes OUTPUT/metrics.jsonl (one record per step), TensorBoard event files in OUTPUT/runs, \
            checkpoints in OUTPUT/checkpoints/<stage>-step<N>/ and OUTPUT/latest naming the newest complete one. \
            Relative paths in the recipe are resolved against the working directory. \
            Under `mpirun -np N`, each rank takes per_device_train_batch_size samples of every global batch \
            (per-device x N x gradient_accumulation_steps) and rank 0 alone writes.
            """
    )

    @Argument(help: "The recipe YAML file.") var recipe: String
    @Flag(help: "Continue from the checkpoint OUTPUT/latest names; the loss curve continues exactly.") var resume = false
    @Flag(help: "Replace an earlier run in the output directory (as the recipe's overwrite_output_dir: true); without it, or --resume, an earlier run is refused.") var overwrite = false
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a recipe field, e.g. --set output_dir=out/x --set stages.0.max_steps=10.", valueName: "key.path=value"))
    var overrides: [String] = []
    @Flag(name: .customLong("log-rank"), help: "Under mpirun: ranks other than 0 log to OUTPUT/rank-<r>.log (default: they log nothing).")
    var logRank = false
    @Option(name: .customLong("stop-after-step"), help: .hidden) var stopAfterStep: Int?  // interrupts a run as a crash would (tests)

    func run() throws {
        let world: any Communicator
        do { world = try World.join() } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        defer { world.finish() }
        do {
            try runReportingErrors {
                let loaded = try RecipeLoader.load(path: recipe, overrides: overrides)
                var options = TrainOptions()
                options.resume = resume
                options.overwrite = overwrite
                options.communicator = world
                options.stopAfterGlobalStep = stopAfterStep
                options.terminal = world.isMain && isatty(STDERR_FILENO) != 0
                options.log = try Self.log(rank: world.rank, outputDir: loaded.outputDir, toFile: logRank)
                if world.size > 1 {
                    options.log("data-parallel: \(world.size) ranks, global batch = per_device_train_batch_size x \(world.size) x gradient_accumulation_steps")
                }
                let summary = try Trainer(recipe: loaded, options: options).run()
                let last = summary.losses.last.map { String(format: "%.4f", $0) } ?? "n/a"
                options.log(String(format: "done in %.1f s: %d steps, final loss %@", summary.seconds, summary.losses.count, last))
            }
        } catch {
            // One rank's error ends the job: the others would wait in a collective for ever.
            if world.size > 1 { world.abort(code: 1) }
            throw error
        }
    }

    /// Rank 0 prints; another rank logs nothing, or to OUTPUT/rank-<r>.log with --log-rank.
    static func log(rank: Int, outputDir: String, toFile: Bool) throws -> (String) -> Void {
        if rank == 0 { return { print($0); flushOutput() } }
        guard toFile else { return { _ in } }
        let path = outputDir + "/rank-\(rank).log"
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw ValidationError("--log-rank: cannot write \(path)")
        }
        return { handle.write(Data(($0 + "\n").utf8)) }
    }
}
