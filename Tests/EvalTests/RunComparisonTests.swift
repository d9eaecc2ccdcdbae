import Eval
import Foundation
import Testing

/// `eval runs --last-stage`: runs branched from one checkpoint, side by side.
struct RunComparisonTests {
    /// Writes a run directory with a forgetting report of `values` per suite (its metric's values
    /// at each evaluation point) and a run summary.
    func run(_ root: URL, _ name: String, seconds: Double, _ suites: [String: (metric: String, values: [Double])]) throws -> String {
        let dir = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var entries: [String: Any] = [:]
        for (suite, s) in suites { entries[suite] = ["metric": s.metric, "values": s.values, "acc": s.values] }
        let points = (0..<(suites.values.first?.values.count ?? 0)).map { "p\($0)" }
        try JSONSerialization.data(withJSONObject: ["points": points, "suites": entries]).write(to: dir.appendingPathComponent("forgetting.json"))
        try JSONSerialization.data(withJSONObject: ["seed": 1, "seconds": seconds]).write(to: dir.appendingPathComponent("run_summary.json"))
        return dir.path
    }

    @Test func branchesShareOneBeforeColumnAndFamiliesGetMeans() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("runcmp-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        // The trunk evaluated five times; the branch started from its fourth point (the same scores).
        let a = try run(root, "llava", seconds: 280, ["knowledge-en": ("acc_norm", [0.25, 0.8, 0.9, 0.6]),
                                                         "knowledge-zh": ("acc_norm", [0.25, 0.7, 0.7, 0.5]),
                                                         "scenes-en": ("acc", [0.25, 0.25, 0.3, 0.7])])
        let b = try run(root, "wings", seconds: 90, ["knowledge-en": ("acc_norm", [0.9, 0.85]),
                                                     "knowledge-zh": ("acc_norm", [0.7, 0.72]),
                                                     "scenes-en": ("acc", [0.3, 0.65])])
        let table = try RunComparison.load([a, b]).lastStageMarkdown()
        #expect(table.contains("| suite | metric | before | llava | wings |"), "\(table)")
        #expect(table.contains("| knowledge-en | acc_norm | 0.9000 | 0.6000 (-0.3000) | 0.8500 (-0.0500) |"), "\(table)")
        #expect(table.contains("| scenes-en | acc | 0.3000 | 0.7000 (+0.4000) | 0.6500 (+0.3500) |"), "\(table)")
        // Means of the two knowledge suites: before 0.8, after 0.55 and 0.785; one scenes suite gets no mean row.
        #expect(table.contains("| **knowledge (mean of 2)** | acc_norm | 0.8000 | 0.5500 (-0.2500) | 0.7850 (-0.0150) |"), "\(table)")
        #expect(!table.contains("scenes (mean"), "\(table)")
        #expect(table.contains("| wall time (whole run) | | | 280.0 s | 90.0 s |"), "\(table)")
        let scenes = try RunComparison.load([a, b]).keeping(suites: ["scenes-*"]).markdown()
        #expect(scenes.contains("scenes-en acc") && !scenes.contains("knowledge"), "\(scenes)")
    }

    @Test func differentStartsReadBeforeToAfterInEachCell() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("runcmp-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let a = try run(root, "a", seconds: 1, ["cloze": ("acc_norm", [0.5, 0.4])])
        let b = try run(root, "b", seconds: 2, ["cloze": ("acc_norm", [0.6, 0.3, 0.35])])
        let table = try RunComparison.load([a, b]).lastStageMarkdown()
        #expect(table.contains("| suite | metric | a | b |"), "\(table)")
        #expect(table.contains("| cloze | acc_norm | 0.5000 → 0.4000 (-0.1000) | 0.3000 → 0.3500 (+0.0500) |"), "\(table)")
    }

    /// `--average`: each run's mean over the named suites after the last stage, mean ± sd over seeds.
    @Test func averagedColumnOverSeeds() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("runcmp-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let one = try run(root, "moe-seed1", seconds: 1, ["scenes-en": ("acc", [0.2, 0.8]), "scenes-zh": ("acc", [0.2, 0.4]), "scenes-pt": ("acc", [0.2, 0.6])])
        let two = try run(root, "moe-seed2", seconds: 1, ["scenes-en": ("acc", [0.2, 0.9]), "scenes-zh": ("acc", [0.2, 0.6]), "scenes-pt": ("acc", [0.2, 0.6])])
        let table = try RunComparison.load([one, two]).averaging("non-English", over: ["scenes-zh", "scenes-pt"]).markdown()
        // Per run 0.5 and 0.6; mean 0.55, sample sd 0.0707.
        #expect(table.contains("| non-English: mean of 2 after |"), "\(table)")
        #expect(table.contains("(+0.2000) | 0.5000 | 1.0 s |") && table.contains("| 0.5500 ± 0.0707 | 1.0 s |"), "\(table)")
        #expect(throws: EvalError.self) { try RunComparison.load([one]).averaging("x", over: ["scenes-ru"]) }
    }
}
