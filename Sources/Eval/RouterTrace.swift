import Foundation
import Support

/// Parrot's routing over training: one `RouterReport` per probe (every `logging_steps` of a stage
/// that trains through the MoE), one JSON object per line of `OUTPUT/router_trace.jsonl`.
public struct RouterTraceEntry: Codable, Sendable {
    public static let file = "router_trace.jsonl"
    public let stage: String
    public let step: Int
    public let globalStep: Int
    public let router: RouterReport

    enum CodingKeys: String, CodingKey { case stage, step, globalStep = "global_step", router }

    public init(stage: String, step: Int, globalStep: Int, report: RouterReport) {
        self.stage = stage
        self.step = step
        self.globalStep = globalStep
        router = report
    }

    /// Appends `entry` as one line of `path` (created when missing).
    public static func append(_ entry: RouterTraceEntry, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(entry)
        line.append(0x0A)
        if !FileManager.default.fileExists(atPath: path) { try AtomicFile.write(Data(), to: path) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw EvalError("\(path): cannot open for appending") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }

    /// The entries of `path` in order, the last one kept per stage and step (a resumed run probes
    /// its steps again); empty when the file is missing. A last line cut short (a run killed while
    /// appending) is skipped; a bad line before it is an error naming it.
    public static func load(_ path: String) throws -> [RouterTraceEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var entries: [RouterTraceEntry] = []
        let lines = data.split(separator: 0x0A)
        for (n, line) in lines.enumerated() {
            do {
                let entry = try JSONDecoder().decode(RouterTraceEntry.self, from: Data(line))
                entries.removeAll { $0.stage == entry.stage && $0.step == entry.step }
                entries.append(entry)
            } catch {
                if n == lines.count - 1 && data.last != 0x0A { break }
                throw EvalError("\(path):\(n + 1): not a router trace entry (\(error))")
            }
        }
        return entries.sorted { ($0.globalStep, $0.step) < ($1.globalStep, $1.step) }
    }

    /// A Markdown table over `entries`: one row per probe, each language's mean router entropy,
    /// g's nearest-centroid accuracy over all images and the separation of its language centroids.
    public static func markdown(_ entries: [RouterTraceEntry]) -> String {
        guard let languages = entries.first?.router.languages else { return "" }
        var out = "| stage | step | " + languages.map { "entropy \($0)" }.joined(separator: " | ") + " | g nearest centroid | g separation |\n"
        out += "|---|---:|" + String(repeating: "---:|", count: languages.count + 2) + "\n"
        for e in entries {
            let cells = languages.map { l in e.router.languages.firstIndex(of: l).map { String(format: "%.3f", e.router.entropy[$0]) } ?? "–" }
            out += "| \(e.stage) | \(e.step) | " + cells.joined(separator: " | ") + " | "
                + (e.router.guideCentroidAccuracy.map { String(format: "%.3f", $0) } ?? "–") + " | "
                + (e.router.guideSeparation.map { String(format: "%.3f", $0) } ?? "–") + " |\n"
        }
        return out
    }
}
