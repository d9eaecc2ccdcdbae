import Eval
import Foundation
import Support

/// The files an evaluation point rewrites: the forgetting report, Parrot's routing report and the
/// task sequence's accuracy matrix.
extension StageEvaluation {
    /// `forgetting.json`, `forgetting.md` (the table `table` keeps) and `forgetting.svg`.
    func writeReport() throws {
        var summary = Summary(points: points, suites: [:])
        var markdown = "# Forgetting report\n\nAccuracy before training (`initial`) and after each stage (image suites once the model has a vision tower).\n\n"
        markdown += "| suite | metric | " + points.joined(separator: " | ") + " | Δ last | forgetting |\n"
        markdown += "|---|---|" + points.map { _ in "---:|" }.joined() + "---:|---:|\n"
        var details = ""
        for spec in specs {
            let results = points.map { try? EvalResult.load(resultPath($0, spec.name)) }
            let values = results.map { r in r.map { $0.overall.value(of: spec.metric) } }
            let done = values.compactMap { $0 }
            let lastIndex = values.lastIndex { $0 != nil }
            let previousIndex = lastIndex.flatMap { i in values[..<i].lastIndex { $0 != nil } }
            var s = SuiteSummary(metric: spec.metric, values: values, acc: results.map { $0?.overall.acc },
                                 accNorm: results.map { $0?.overall.accNorm }, accBytes: results.map { $0?.overall.accBytes }, forgetting: nil, lastDelta: nil, lastTransition: nil)
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

    /// Parrot: `eval/<point>/router.json`, and `router.md` / `router.svg` for the latest point.
    func writeRouter(_ report: RouterReport, point: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(report), to: "\(outputDir)/eval/\(point)/router.json")
        var md = "# Parrot routing after \(point)\n\nMean routing weight of each expert over the image questions of each language, "
            + "the router's mean entropy, and how often an image's guidance vector g is nearest its own language's centroid.\n\n" + report.markdown()
        let trace = try RouterTraceEntry.load(outputDir + "/" + RouterTraceEntry.file)
        if !trace.isEmpty { md += "\n## Over training\n\nThe same probe every `logging_steps` of the stages that train through the MoE (`router_trace.jsonl`).\n\n" + RouterTraceEntry.markdown(trace) }
        try AtomicFile.write(Data(md.utf8), to: outputDir + "/router.md")
        try AtomicFile.write(Data(report.svg(title: "Mean routing weight per expert and language (after \(point))").utf8),
                             to: outputDir + "/router.svg")
        log("routing after \(point) (mean weight per expert):\n" + report.markdown())
    }
}
