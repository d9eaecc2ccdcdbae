import Foundation
import Model

/// One table over several training runs' output directories: per run, each suite's score before
/// training and after the last stage (from `forgetting.json`), and the wall time (from
/// `run_summary.json`). Runs whose names differ only by a `-seedN` suffix also get a mean row.
public struct RunComparison: Sendable {
    public struct Run: Sendable {
        public let name: String
        public let seed: Int?
        public let seconds: Double?
        /// Suite → (metric, initial, previous, last) for the suite's metric, and acc too when the
        /// metric is another; `previous` is the evaluation before the last stage's.
        public let scores: [String: [(metric: String, initial: Double?, previous: Double?, last: Double?)]]
        /// The task sequence's metrics (`continual.json`), when the run had one.
        public let continual: ContinualMetrics?
    }

    public let runs: [Run]
    public let suites: [String]
    /// Extra columns: each the mean, after the last stage, of some suites' own metric per run
    /// (e.g. the non-English image suites), with mean ± sd rows like the others.
    public var averages: [(name: String, suites: [String])] = []

    /// Reads `DIR/forgetting.json` (and `DIR/run_summary.json` when present) of each directory.
    public static func load(_ directories: [String]) throws -> RunComparison {
        var runs: [Run] = [], suites: [String] = []
        for dir in directories {
            let file = dir + "/forgetting.json"
            guard let data = FileManager.default.contents(atPath: file) else { throw EvalError("\(file): not found (has the run evaluated anything?)") }
            guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let bySuite = json["suites"] as? [String: [String: Any]] else {
                throw EvalError("\(file): not a forgetting report (expected 'points' and 'suites')")
            }
            var scores: [String: [(String, Double?, Double?, Double?)]] = [:]
            for (suite, entry) in bySuite.sorted(by: { $0.key < $1.key }) {
                if !suites.contains(suite) { suites.append(suite) }
                let metric = entry["metric"] as? String ?? "acc"
                let metrics = metric == "acc" ? ["acc"] : ["acc", metric]
                scores[suite] = metrics.map { m in
                    let values = (entry[m == metric ? "values" : m] as? [Any] ?? []).map { $0 as? Double }
                    return (m, values.first ?? nil, values.count > 1 ? values[values.count - 2] : nil, values.last ?? nil)
                }
            }
            var seed: Int?, seconds: Double?
            if let data = FileManager.default.contents(atPath: dir + "/run_summary.json"),
               let summary = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                seed = summary["seed"] as? Int
                seconds = summary["seconds"] as? Double
            }
            let continual = FileManager.default.contents(atPath: dir + "/continual.json").flatMap { try? JSONDecoder().decode(ContinualMetrics.self, from: $0) }
            runs.append(Run(name: URL(fileURLWithPath: dir).lastPathComponent, seed: seed, seconds: seconds, scores: scores, continual: continual))
        }
        return RunComparison(runs: runs, suites: suites)
    }

    /// Only the suites matching one of `patterns` (globs; none: every suite).
    public func keeping(suites patterns: [String]) -> RunComparison {
        guard !patterns.isEmpty else { return self }
        let kept = suites.filter { s in patterns.contains { Glob.matches(s, pattern: $0) } }
        return RunComparison(runs: runs, suites: kept, averages: averages)
    }

    /// With a column averaging `suites` (their own metric, after the last stage) under `name`.
    /// Throws when a suite is in no run.
    public func averaging(_ name: String, over suites: [String]) throws -> RunComparison {
        for s in suites where !runs.contains(where: { $0.scores[s] != nil }) {
            throw EvalError("--average \(name): no run has the suite '\(s)' (suites: \(self.suites.joined(separator: ", ")))")
        }
        var c = self
        c.averages.append((name, suites))
        return c
    }

    /// The run's name without a trailing `-seedN`.
    static func group(_ name: String) -> String {
        guard let r = name.range(of: "-seed[0-9]+$", options: .regularExpression) else { return name }
        return String(name[..<r.lowerBound])
    }

    /// The Markdown table: one row per run, then a mean row (mean ± sample sd) per group of two or more seeds.
    public func markdown() -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "–" }
        let columns = suites.flatMap { s in (runs.first { $0.scores[s] != nil }?.scores[s] ?? []).map { (s, $0.metric) } }
        let sequence = runs.contains { $0.continual != nil }
        let sequenceHeader = sequence ? " avg acc | last acc | BWT | forgetting |" : ""
        var out = "| run | seed | " + columns.map { "\($0.0) \($0.1): before → after (Δ)" }.joined(separator: " | ") + " |"
            + averages.map { " \($0.name): mean of \($0.suites.count) after |" }.joined() + "\(sequenceHeader) wall time |\n"
        out += "|---|---:|" + columns.map { _ in "---:|" }.joined() + String(repeating: "---:|", count: averages.count)
            + (sequence ? "---:|---:|---:|---:|" : "") + "---:|\n"
        /// The mean, and "± sd" (sample standard deviation) over two or more runs.
        func g(_ values: [Double], _ signed: Bool = false) -> String {
            guard let m = mean(values) else { return "–" }
            let text = String(format: signed ? "%+.4f" : "%.4f", m)
            guard values.count > 1 else { return text }
            let sd = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
            return text + String(format: " ± %.4f", sd)
        }
        func row(_ name: String, _ seed: String, _ runs: [Run]) -> String {
            var cells: [String] = []
            for (suite, metric) in columns {
                let pairs = runs.compactMap { $0.scores[suite]?.first { $0.metric == metric } }
                let initial = mean(pairs.compactMap(\.initial)), lasts = pairs.compactMap(\.last), last = mean(lasts)
                let delta = initial.flatMap { i in last.map { $0 - i } }
                cells.append("\(f(initial)) → \(g(lasts)) (\(delta.map { String(format: "%+.4f", $0) } ?? "–"))")
            }
            for (_, suites) in averages {
                // Each run's mean over the suites (all present), then mean ± sd over the runs.
                let perRun = runs.compactMap { run -> Double? in
                    let lasts = suites.compactMap { run.scores[$0]?.last?.last }
                    return lasts.count == suites.count ? mean(lasts) : nil
                }
                cells.append(g(perRun))
            }
            let seconds = mean(runs.compactMap(\.seconds)).map { String(format: "%.1f s", $0) } ?? "–"
            var tail = ""
            if sequence {
                let c = runs.compactMap(\.continual)
                tail = " \(g(c.map(\.averageAccuracy))) | \(g(c.map(\.lastAccuracy))) | \(g(c.compactMap(\.backwardTransfer), true)) | \(g(c.compactMap(\.forgetting))) |"
            }
            return "| \(name) | \(seed) | " + cells.joined(separator: " | ") + " |\(tail) \(seconds) |\n"
        }
        for r in runs { out += row(r.name, r.seed.map(String.init) ?? "–", [r]) }
        var groups: [String] = []
        for r in runs where !groups.contains(Self.group(r.name)) { groups.append(Self.group(r.name)) }
        for g in groups {
            let members = runs.filter { Self.group($0.name) == g }
            if members.count > 1 { out += row("**\(g) (mean)**", "\(members.count) seeds", members) }
        }
        return out
    }

    /// The Markdown table of each run's last stage against the evaluation before it: one row per
    /// suite (its own metric), one column per run, a mean row per family of two or more suites
    /// named `<family>-<x>`, and the wall time. One `before` column when every run started from
    /// the same scores (branches from one checkpoint), else each cell reads before → after.
    public func lastStageMarkdown() -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "–" }
        func primary(_ run: Run, _ suite: String) -> (metric: String, initial: Double?, previous: Double?, last: Double?)? { run.scores[suite]?.last }
        let metricOf = Dictionary(uniqueKeysWithValues: suites.compactMap { s in runs.lazy.compactMap { primary($0, s) }.first.map { (s, $0.metric) } })
        let shared = suites.allSatisfy { s in Set(runs.map { primary($0, s)?.previous.map { String(format: "%.6f", $0) } ?? "–" }).count == 1 }
        var out = "| suite | metric |" + (shared ? " before |" : "") + runs.map { " \($0.name) |" }.joined() + "\n"
        out += "|---|---|" + (shared ? "---:|" : "") + runs.map { _ in "---:|" }.joined() + "\n"
        func cell(_ before: Double?, _ after: Double?) -> String {
            let delta = before.flatMap { b in after.map { String(format: " (%+.4f)", $0 - b) } } ?? ""
            return shared ? f(after) + delta : "\(f(before)) → \(f(after))\(delta)"
        }
        func line(_ name: String, _ metric: String, _ values: [(previous: Double?, last: Double?)]) -> String {
            "| \(name) | \(metric) |" + (shared ? " \(f(values.first?.previous)) |" : "") + values.map { " \(cell($0.previous, $0.last)) |" }.joined() + "\n"
        }
        for s in suites { out += line(s, metricOf[s] ?? "acc", runs.map { (primary($0, s)?.previous, primary($0, s)?.last) }) }
        // A family: the suites named `<family>-<x>` (the name up to its last "-") with the first one's metric.
        let family = { (s: String) in s.range(of: "-", options: .backwards).map { String(s[..<$0.lowerBound]) } }
        var families: [String] = []
        for s in suites { if let f = family(s), !families.contains(f) { families.append(f) } }
        for name in families {
            let inFamily = suites.filter { family($0) == name }
            let members = inFamily.filter { metricOf[$0] == metricOf[inFamily[0]] }
            guard members.count > 1 else { continue }
            let values = runs.map { run -> (Double?, Double?) in
                let previous = members.compactMap { primary(run, $0)?.previous }, last = members.compactMap { primary(run, $0)?.last }
                return (previous.count == members.count ? mean(previous) : nil, last.count == members.count ? mean(last) : nil)
            }
            out += line("**\(name) (mean of \(members.count))**", metricOf[members[0]] ?? "acc", values)
        }
        out += "| wall time (whole run) | |" + (shared ? " |" : "") + runs.map { " \($0.seconds.map { String(format: "%.1f s", $0) } ?? "–") |" }.joined() + "\n"
        return out
    }

    func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
}
