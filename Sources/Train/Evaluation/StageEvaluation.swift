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
        var line: [String] = [], routing: [(language: String?, weights: [Float])] = []
        for (spec, suite) in zip(specs, suites) {
            if suite.isMultimodal && model.multimodal == nil { continue }
            let evaluator = Evaluator(model: model, tokenizer: tokenizer)
            evaluator.template = spec.template
            defer { routing += evaluator.routing }
            let result = try evaluator.run(suite, options: EvalOptions(mode: spec.mode, shots: spec.shots, limit: spec.limit, moe: moe), modelName: point)
            try AtomicFile.write(result.json(), to: resultPath(point, spec.name))
            let value = result.overall.value(of: spec.metric)
            line.append("\(spec.name) \(spec.metric) \(String(format: "%.4f", value))")
        }
        log("eval after \(point == Self.initial ? "nothing (initial model)" : "stage '\(point)'"): " + line.joined(separator: ", "))
        try writeReport()
        if !routing.isEmpty { try writeRouter(RouterReport(routing), point: point) }
        if point == points.last, let m = model.multimodal { try evaluateMultimodal(m, tokenizer: tokenizer, moe: moe) }
    }

    /// After the last stage: every image suite of the block as one suite, scored with accuracy per
    /// language and per category (subject), in `eval/multimodal.json` (the eval JSON contract).
    func evaluateMultimodal(_ m: MultimodalModel, tokenizer: any TextTokenizer, moe: Bool) throws {
        let chosen = zip(specs, suites).filter { $0.1.isMultimodal }
        guard let first = chosen.first else { return }
        var bySubject: [String: [MultipleChoiceItem]] = [:]
        for (_, suite) in chosen {
            for (name, items) in suite.subjects { bySubject[name, default: []] += items }
        }
        let merged = MultipleChoiceSuite(name: "multimodal", subjects: bySubject.keys.sorted().map { ($0, bySubject[$0]!) }, examples: [:])
        let evaluator = Evaluator(model: m, tokenizer: tokenizer)
        evaluator.template = first.0.template
        let options = EvalOptions(mode: first.0.mode, shots: 0, limit: nil, moe: moe)
        let result = try evaluator.run(merged, options: options, modelName: points.last!)
        try AtomicFile.write(result.json(), to: outputDir + "/eval/multimodal.json")
        let languages = (result.languages ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.4f", $0.value.acc))" }
        log("multimodal (\(result.overall.n) image questions): acc \(String(format: "%.4f", result.overall.acc)); " + languages.joined(separator: ", ")
            + " -> \(outputDir)/eval/multimodal.json")
    }
}
