import ArgumentParser
import Foundation
import Train

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Run every stage of a recipe.",
        discussion: """
            Writes OUTPUT/metrics.jsonl (one record per step), TensorBoard event files in OUTPUT/runs, \
            checkpoints in OUTPUT/checkpoints/<stage>-step<N>/ and OUTPUT/latest naming the newest complete one. \
            Relative paths in the recipe are resolved against the working directory.
            """
    )

    @Argument(help: "The recipe YAML file.") var recipe: String
    @Flag(help: "Continue from the checkpoint OUTPUT/latest names; the loss curve continues exactly.") var resume = false
    @Flag(help: "Replace an earlier run in the output directory (as the recipe's overwrite_output_dir: true); without it, or --resume, an earlier run is refused.") var overwrite = false
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a recipe field, e.g. --set output_dir=out/x --set stages.0.max_steps=10.", valueName: "key.path=value"))
    var overrides: [String] = []

    func run() throws {
        try runReportingErrors {
            let loaded = try RecipeLoader.load(path: recipe, overrides: overrides)
            var options = TrainOptions()
            options.resume = resume
            options.overwrite = overwrite
            options.terminal = isatty(STDERR_FILENO) != 0
            options.log = { print($0); flushOutput() }
            let summary = try Trainer(recipe: loaded, options: options).run()
            let last = summary.losses.last.map { String(format: "%.4f", $0) } ?? "n/a"
            print(String(format: "done in %.1f s: %d steps, final loss %@", summary.seconds, summary.losses.count, last))
        }
    }
}
