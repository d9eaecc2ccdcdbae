import Eval
import Foundation
import Support
import Model
import Tokenizer

/// The forgetting report of a run: every suite of the recipe's `eval` block, scored before the
/// first stage (`initial`) and after each stage, in `OUTPUT/eval/<when>/<suite>.json`, summarised in
/// `forgetting.json`, `forgetting.md` and `forgetting.svg` (rewritten after each evaluation).
final class StageEvaluation {
    struct SuiteSummary: Codable {
        var metric: String
        /// The metric per evaluation point (nil where not yet evaluated).
        var values: [Double?]
        var acc: [Double?]
        var accNorm: [Double?]
        /// Best value before the last evaluation minus the last value (positive = forgotten).
        var forgetting: Double?
        /// Last value minus the one before it.
        var lastDelta: Double?
        /// Per-subject comparison of the last two evaluations.
        var lastTransition: ForgettingReport?

        enum CodingKeys: String, CodingKey {
            case metric, values, acc, accNorm = "acc_norm", forgetting, lastDelta = "last_delta", lastTransition = "last_transition"
        }
    }

    struct Summary: Codable {
        var points: [String]
        var suites: [String: SuiteSummary]
    }

    static let initial = "initial"
    let specs: [EvalSuiteSpec]
    let suites: [MultipleChoiceSuite]
    let outputDir: String
    let points: [String]
    let log: (String) -> Void
    /// The summary table of the last report (printed at the end of a run).
    private(set) var table = ""

    let tasks: [EvalTaskSpec]

    init(spec: EvalSpec, stages: [String], outputDir: String, log: @escaping (String) -> Void) throws {
        for t in spec.tasks {
            guard stages.contains(t.stage) else { throw TrainError("eval.tasks: no stage named '\(t.stage)' (stages: \(stages.joined(separator: ", ")))") }
            guard spec.suites.contains(where: { $0.name == t.suite }) else {
                throw TrainError("eval.tasks: no suite named '\(t.suite)' in eval.suites (\(spec.suites.map(\.name).joined(separator: ", ")))")
            }
        }
        tasks = spec.tasks
        specs = spec.suites
        suites = try spec.suites.map { try SuiteLoader.load($0.path, split: $0.split) }
        self.outputDir = outputDir
        points = [Self.initial] + stages
        self.log = log
    }

    func resultPath(_ point: String, _ suite: String) -> String { "\(outputDir)/eval/\(point)/\(suite).json" }

    /// Whether every text-only suite already has a result for `point` (a resumed run skips it).
    func isDone(_ point: String) -> Bool {
        zip(specs, suites).allSatisfy { $1.isMultimodal || FileManager.default.fileExists(atPath: resultPath(point, $0.name)) }
    }

    /// Scores every suite with the model as it is now and rewrites the report. Image suites
    /// are scored once the model has a vision tower.
    func evaluate(_ point: String, model: TrainedModel, tokenizer: SentencePieceTokenizer) throws {
        try FileManager.default.createDirectory(atPath: "\(outputDir)/eval/\(point)", withIntermediateDirectories: true)
        var line: [String] = [], routing: [(language: String?, weights: [Float])] = []
        for (spec, suite) in zip(specs, suites) {
            if suite.isMultimodal && model.multimodal == nil { continue }
            let evaluator = model.multimodal.map { Evaluator(model: $0, tokenizer: tokenizer) } ?? Evaluator(decoder: model.decoder, tokenizer: tokenizer)
            evaluator.template = spec.template
            defer { routing += evaluator.routing }
            let result = try evaluator.run(suite, options: EvalOptions(mode: spec.mode, shots: spec.shots, limit: spec.limit), modelName: point)
            try AtomicFile.write(result.json(), to: resultPath(point, spec.name))
            let value = spec.metric == "acc_norm" ? (result.overall.accNorm ?? result.overall.acc) : result.overall.acc
            line.append("\(spec.name) \(spec.metric) \(String(format: "%.4f", value))")
        }
        log("eval after \(point == Self.initial ? "nothing (initial model)" : "stage '\(point)'"): " + line.joined(separator: ", "))
        try writeReport()
        if !routing.isEmpty { try writeRouter(RouterReport(routing), point: point) }
        if point == points.last, let m = model.multimodal { try evaluateMultimodal(m, tokenizer: tokenizer) }
    }

    /// Parrot: `eval/<point>/router.json`, and `router.md` / `router.svg` for the latest point.
    func writeRouter(_ report: RouterReport, point: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(report), to: "\(outputDir)/eval/\(point)/router.json")
        let md = "# Parrot routing after \(point)\n\nMean routing weight of each expert over the image questions of each language.\n\n" + report.markdown()
        try AtomicFile.write(Data(md.utf8), to: outputDir + "/router.md")
        try AtomicFile.write(Data(report.svg(title: "Mean routing weight per expert and language (after \(point))").utf8),
                                           to: outputDir + "/router.svg")
        log("routing after \(point) (mean weight per expert):\n" + report.markdown())
    }

    /// After the last stage: every image suite of the block as one suite, scored with accuracy per
    /// language and per category (subject), in `eval/multimodal.json` (the eval JSON contract).
    func evaluateMultimodal(_ m: MultimodalModel, tokenizer: SentencePieceTokenizer) throws {
        let chosen = zip(specs, suites).filter { $0.1.isMultimodal }
        guard let first = chosen.first else { return }
        var bySubject: [String: [MultipleChoiceItem]] = [:]
        for (_, suite) in chosen {
            for (name, items) in suite.subjects { bySubject[name, default: []] += items }
        }
        let merged = MultipleChoiceSuite(name: "multimodal", subjects: bySubject.keys.sorted().map { ($0, bySubject[$0]!) }, examples: [:])
        let evaluator = Evaluator(model: m, tokenizer: tokenizer)
        evaluator.template = first.0.template
        let options = EvalOptions(mode: first.0.mode, shots: 0, limit: nil)
        let result = try evaluator.run(merged, options: options, modelName: points.last!)
        try AtomicFile.write(result.json(), to: outputDir + "/eval/multimodal.json")
        let languages = (result.languages ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.4f", $0.value.acc))" }
        log("multimodal (\(result.overall.n) image questions): acc \(String(format: "%.4f", result.overall.acc)); " + languages.joined(separator: ", ")
            + " -> \(outputDir)/eval/multimodal.json")
    }

    func writeReport() throws {
        var summary = Summary(points: points, suites: [:])
        var markdown = "# Forgetting report\n\nAccuracy before training (`initial`) and after each stage (image suites once the model has a vision tower).\n\n"
        markdown += "| suite | metric | " + points.joined(separator: " | ") + " | Δ last | forgetting |\n"
        markdown += "|---|---|" + points.map { _ in "---:|" }.joined() + "---:|---:|\n"
        var details = ""
        for spec in specs {
            let results = points.map { try? EvalResult.load(resultPath($0, spec.name)) }
            let values = results.map { r in r.map { spec.metric == "acc_norm" ? ($0.overall.accNorm ?? $0.overall.acc) : $0.overall.acc } }
            let done = values.compactMap { $0 }
            let lastIndex = values.lastIndex { $0 != nil }
            let previousIndex = lastIndex.flatMap { i in values[..<i].lastIndex { $0 != nil } }
            var s = SuiteSummary(metric: spec.metric, values: values, acc: results.map { $0?.overall.acc },
                                 accNorm: results.map { $0?.overall.accNorm }, forgetting: nil, lastDelta: nil, lastTransition: nil)
            if done.count >= 2, let last = done.last {
                s.forgetting = done.dropLast().max()! - last
                s.lastDelta = last - done[done.count - 2]
            }
            if let i = lastIndex, let p = previousIndex, let before = results[p], let after = results[i] {
                s.lastTransition = try? ForgettingReport.compare(before: before, after: after, beforeName: points[p], afterName: points[i])
                if let t = s.lastTransition { details += "\n## \(spec.name)\n\n" + t.markdown() }
            }
            summary.suites[spec.name] = s
            func cell(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "–" }
            markdown += "| \(spec.name) | \(spec.metric) | " + values.map(cell).joined(separator: " | ")
                + " | \(s.lastDelta.map { String(format: "%+.4f", $0) } ?? "–") | \(s.forgetting.map { String(format: "%+.4f", $0) } ?? "–") |\n"
        }
        markdown += "\nΔ last: the last evaluation minus the one before it. Forgetting: the best earlier value minus the last one.\n" + details
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(summary), to: outputDir + "/forgetting.json")
        try AtomicFile.write(Data(markdown.utf8), to: outputDir + "/forgetting.md")
        table = markdown.components(separatedBy: "\n\nΔ last:").first ?? markdown
        let chart = LineChart.svg(title: "Accuracy across stages", xLabels: points,
                                  series: specs.map { ($0.name, summary.suites[$0.name]!.values) })
        try AtomicFile.write(Data(chart.utf8), to: outputDir + "/forgetting.svg")
        try writeContinual(summary)
    }

    /// The task sequence's accuracy matrix and metrics, once every task's stage has been evaluated.
    func writeContinual(_ summary: Summary) throws {
        guard !tasks.isEmpty else { return }
        var matrix: [[Double]] = []
        for row in tasks {
            guard let i = points.firstIndex(of: row.stage) else { return }
            var values: [Double] = []
            for column in tasks {
                guard let v = summary.suites[column.suite]?.values[i] else { return }
                values.append(v)
            }
            matrix.append(values)
        }
        let names = tasks.map(\.suite)
        let metrics = ContinualMetrics(tasks: names, accuracy: matrix)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(metrics), to: outputDir + "/continual.json")
        let md = "# Task sequence\n\nAccuracy on each task (columns) after learning each task in turn (rows: the stage that learns it).\n\n"
            + metrics.markdown()
        try AtomicFile.write(Data(md.utf8), to: outputDir + "/continual.md")
        let chart = LineChart.svg(title: "Accuracy per task across the sequence", xLabels: tasks.map(\.stage),
                                  series: names.enumerated().map { j, name in (name, matrix.map { Optional($0[j]) }) })
        try AtomicFile.write(Data(chart.utf8), to: outputDir + "/continual.svg")
        log("task sequence:\n" + metrics.markdown())
    }
}
