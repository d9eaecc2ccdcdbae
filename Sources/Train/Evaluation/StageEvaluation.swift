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
        var accBytes: [Double?]
        /// Best value before the last evaluation minus the last value (positive = forgotten).
        var forgetting: Double?
        /// Last value minus the one before it.
        var lastDelta: Double?
        /// Per-subject comparison of the last two evaluations.
        var lastTransition: ForgettingReport?

        enum CodingKeys: String, CodingKey {
            case metric, values, acc, accNorm = "acc_norm", accBytes = "acc_bytes", forgetting, lastDelta = "last_delta", lastTransition = "last_transition"
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
    var table = ""

    let tasks: [EvalTaskSpec]

    /// `spec` as `RecipeLoader` validated it (its task sequence follows `stages`).
    init(spec: EvalSpec, stages: [String], outputDir: String, log: @escaping (String) -> Void) throws {
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
    /// are scored once the model has a vision tower (`moe`: through Parrot's MoE, as the stage
    /// just trained ran it).
    func evaluate(_ point: String, model: AnyModel, tokenizer: any TextTokenizer, moe: Bool) throws {
        try OutputPath.createDirectory("\(outputDir)/eval/\(point)")
        var line: [String] = [], routing: [(language: String?, route: ParrotRoute)] = [], images: [EvalResult] = []
        for (spec, suite) in zip(specs, suites) {
            if suite.isMultimodal && model.multimodal == nil { continue }
            let evaluator = Evaluator(model: model, tokenizer: tokenizer)
            evaluator.template = spec.template
            defer { routing += evaluator.routing }
            let result = try evaluator.run(suite, options: EvalOptions(mode: spec.mode, shots: spec.shots, limit: spec.limit, moe: moe), modelName: point)
            try AtomicFile.write(result.json(), to: resultPath(point, spec.name))
            if suite.isMultimodal { images.append(result) }
            let value = result.overall.value(of: spec.metric)
            line.append("\(spec.name) \(spec.metric) \(String(format: "%.4f", value))")
        }
        log("eval after \(point == Self.initial ? "nothing (initial model)" : "stage '\(point)'"): " + line.joined(separator: ", "))
        try writeReport()
        if !routing.isEmpty { try writeRouter(RouterReport(routing), point: point) }
        if point == points.last, !images.isEmpty { try writeMultimodal(images, point: point) }
    }

    /// After the last stage: the image suites' results pooled into one (`EvalResult.merged`: as
    /// scoring them as one suite gives), with accuracy per language and per category (subject),
    /// in `eval/multimodal.json` (the eval JSON contract).
    func writeMultimodal(_ results: [EvalResult], point: String) throws {
        let result = EvalResult.merged(results, suite: "multimodal", model: point)
        try AtomicFile.write(result.json(), to: outputDir + "/eval/multimodal.json")
        let languages = (result.languages ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.4f", $0.value.acc))" }
        log("multimodal (\(result.overall.n) image questions): acc \(String(format: "%.4f", result.overall.acc)); " + languages.joined(separator: ", ")
            + " -> \(outputDir)/eval/multimodal.json")
    }

    /// Parrot during training: routes every image question of the block's image suites (tower,
    /// projector and router only, no scoring) and appends the per-language entropy, mixture and
    /// g's nearest-centroid accuracy to `router_trace.jsonl`, with a log line.
    func probeRouter(_ m: MultimodalModel, tokenizer: any TextTokenizer, stage: String, step: Int, globalStep: Int) throws {
        let started = Date()
        var routing: [(language: String?, route: ParrotRoute)] = []
        for (spec, suite) in zip(specs, suites) where suite.isMultimodal {
            let evaluator = Evaluator(model: m, tokenizer: tokenizer)
            evaluator.template = spec.template
            for (_, items) in suite.subjects {
                for item in items {
                    guard let image = item.image, let route = try evaluator.route(item, image: image) else { continue }
                    routing.append((item.language, route))
                }
            }
        }
        guard !routing.isEmpty else { return }
        let report = RouterReport(routing)
        let entry = RouterTraceEntry(stage: stage, step: step, globalStep: globalStep, report: report)
        try RouterTraceEntry.append(entry, to: outputDir + "/" + RouterTraceEntry.file)
        log("[\(stage)] step \(step): router entropy " + zip(report.languages, report.entropy).map { "\($0) \(String(format: "%.3f", $1))" }.joined(separator: ", ")
            + (report.guideCentroidAccuracy.map { String(format: "; g nearest centroid %.3f", $0) } ?? "")
            + String(format: " (%d images, %.1f s)", routing.count, Date().timeIntervalSince(started)))
    }
}
