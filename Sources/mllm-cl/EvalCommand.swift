import ArgumentParser
import Eval
import Data
import Foundation
import Model
import Support

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score multiple-choice suites and report forgetting.",
        subcommands: [Run.self, Compare.self, Runs.self],
        defaultSubcommand: Run.self
    )

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Score a model on a multiple-choice suite (the default subcommand).",
            discussion: """
                Suites: an MMLU-layout directory (dev/{subject}_dev.csv few-shot, {split}/{subject}_{split}.csv scored), \
                a CSV file (MMLU columns, or CMMLU's header row), a JSONL file \
                ({"question", "choices", "answer", "subject"?, "delimiter"?}; with "image", "language" and "category" a multimodal suite, \
                scored with the model's vision tower and accuracy per language and category), or an MMMB-style TSV \
                (header: question, A, B, ... or options, answer, language, category, image_path). \
                letter mode: the MMLU k-shot prompt, argmax over " A", " B", ...; \
                continuation mode: log-likelihood of each choice after the question (acc, acc_norm per character as lm-evaluation-harness, acc_bytes per UTF-8 byte).
                """
        )

        @Flag(name: .customLong("text-only"), help: "Score a text-only suite with the language model alone (of a multimodal checkpoint too): the forgetting check.")
        var textOnly = false
        @Option(help: "Model directory.") var model: String
        @Option(help: "Suite: an MMLU-layout directory, a CSV or a JSONL file.") var suite: String
        @Option(help: "letter (MMLU) or continuation.") var mode: ScoringMode = .letter
        @Option(help: "Few-shot examples (default: 5 in letter mode, 0 in continuation mode).") var shots: Int?
        @Option(help: "Score at most N items per subject.") var limit: Int?
        @Option(help: "The scored split of an MMLU-layout directory.") var split = "test"
        @Option(help: "When question + choice exceed the context: left drops context (lm-evaluation-harness), right scores only what fits.")
        var truncation: LogLikelihood.Truncation = .left
        @Option(help: "Write the result as JSON here.") var json: String?
        @Option(help: "Also score this model and print the forgetting table (baseline → --model).") var baseline: String?
        @Option(help: "How image questions are framed: the template the model was instructed with (default: the model's own chat template, else chatml).")
        var template: ChatTemplate?

        @Option(help: "The decoder's matrices as f32, or bf16 (half the bytes a step reads: faster scoring; logits within about 1e-2).")
        var dtype: WeightPrecision = .f32

        @OptionGroup var weights: WeightOptions

        func run() throws {
            weights.apply()
            try runReportingErrors {
                let options = EvalOptions(mode: mode, shots: shots, limit: limit, truncation: truncation)
                try options.validate()
                if let json { try OutputPath.checkWritable(json) }
                let loaded = try SuiteLoader.load(suite, split: split)
                if textOnly && loaded.isMultimodal {
                    throw ValidationError("\(suite) has image questions: drop --text-only to score them with a multimodal model")
                }
                func evaluate(_ dir: String) throws -> EvalResult {
                    let evaluator = try Evaluator(directory: dir, languageModelOnly: !loaded.isMultimodal, truncation: options.truncation,
                                                  precision: dtype)
                    evaluator.template = template
                    print("\(dir): \(loaded.name), \(loaded.subjects.count) subjects, \(mode.rawValue) mode, \(options.resolvedShots) shots")
                    flushOutput()
                    let result = try evaluator.run(loaded, options: options, modelName: dir, progress: ProgressLine(unit: "questions").update)
                    print(result.markdown())
                    if !evaluator.routing.isEmpty { print("Parrot routing (mean weight per expert):\n" + RouterReport(evaluator.routing).markdown()) }
                    print(String(format: "%d questions in %.1f s (%.1f questions/s)", result.overall.n, result.seconds ?? 0, result.questionsPerSecond ?? 0))
                    return result
                }
                let before = try baseline.map(evaluate)
                let result = try evaluate(model)
                if let json { try AtomicFile.write(result.json(), to: json); print("wrote \(json)") }
                if let before, let baseline {
                    print(try ForgettingReport.compare(before: before, after: result, beforeName: baseline, afterName: model).markdown())
                }
            }
        }
    }

    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the forgetting table between two eval JSON results.")

        @Argument(help: "The result before training.") var before: String
        @Argument(help: "The result after training.") var after: String
        @Option(help: "Write the comparison as JSON here.") var json: String?

        func run() throws {
            try runReportingErrors {
                let report = try ForgettingReport.compare(before: EvalResult.load(before), after: EvalResult.load(after), beforeName: before, afterName: after)
                print(report.markdown())
                if let json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    try AtomicFile.write(encoder.encode(report), to: json)
                }
            }
        }
    }
}

extension EvalCommand {
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one table over training runs: each suite before and after, and the wall time.",
            discussion: "Reads OUTPUT_DIR/forgetting.json and OUTPUT_DIR/run_summary.json of each run. Runs named NAME-seedN also get a mean row per NAME.")

        @Argument(help: "Training output directories.") var directories: [String]
        @Flag(help: "One row per suite, one column per run: each run's last stage against the evaluation before it (runs branched from one checkpoint side by side).")
        var lastStage = false
        @Option(name: .customLong("suite"), help: "Only the suites whose names match this glob (repeatable), e.g. 'scenes-*'.")
        var suites: [String] = []
        @Option(help: "A column averaging some suites after the last stage, NAME=SUITE,SUITE,... (repeatable), e.g. 'non-English=scenes-zh,scenes-pt'.")
        var average: [String] = []

        func run() throws {
            try runReportingErrors {
                var comparison = try RunComparison.load(directories).keeping(suites: suites)
                for spec in average {
                    let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                        throw EvalError("--average '\(spec)': expected NAME=SUITE,SUITE,...")
                    }
                    comparison = try comparison.averaging(parts[0], over: parts[1].split(separator: ",").map(String.init))
                }
                print(lastStage ? comparison.lastStageMarkdown() : comparison.markdown(), terminator: "")
            }
        }
    }
}

extension ScoringMode: ExpressibleByArgument {}
extension ChatTemplate: ExpressibleByArgument {}
extension LogLikelihood.Truncation: ExpressibleByArgument {}
