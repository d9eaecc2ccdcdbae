import Data
import Eval
import Foundation
import Infer
import Model
import Support
import Tensor
import Tokenizer

/// Scores a class-incremental sequence (`cil:`) after each task on the test images of every class
/// seen so far, and keeps PyCIL's metrics:
///
///     A_b  = accuracy over the test images of all classes seen after task b
///     Ā    = (1/B) Σ_b A_b            (average incremental accuracy)      A_B: the last one
///     R[b][j] = accuracy on task j's classes after task b  (forgetting, BWT: `ContinualMetrics`)
///
/// Classifiers (`cil.classifier`): `generative` (GMM) generates an answer greedily, takes the
/// text after the answer's prefix as the predicted name and picks the seen class whose name's
/// text feature is nearest by cosine; `exact` needs the generated name to be a seen class's;
/// `prototype` (SimpleCIL) picks the class whose prototype (the mean pooled tower feature of its
/// training images) is nearest to the image's. Writes `OUTPUT/cil/task<b>.jsonl` (every test
/// image: its class, the generated text, the prediction), `OUTPUT/cil/report.json`, and
/// `continual.json` / `continual.md` with the accuracy matrix so far.
final class ClassIncrementalEvaluation {
    let spec: ClassIncrementalSpec
    let folder: ImageClassFolder
    /// Class folders in the seeded order; task b learns `order[tasks[b]]`.
    let order: [String]
    let tasks: [Range<Int>]
    let outputDir: String
    let log: (String) -> Void
    /// Row b: the accuracy on each task j ≤ b after task b.
    private(set) var rows: [[Double]] = []
    /// A_b, after each task so far.
    private(set) var seen: [Double] = []
    /// SimpleCIL's prototypes, by class folder.
    private var prototypes: [String: [Float]] = [:]

    /// The report of a run, `OUTPUT/cil/report.json`.
    struct Report: Codable {
        var protocolName: String
        var classifier: String
        var classOrder: [String]
        var tasks: [[String]]
        var accuracy: [[Double]]
        var seenAccuracy: [Double]
        var averageIncrementalAccuracy: Double
        var lastAccuracy: Double
        var forgetting: Double?

        enum CodingKeys: String, CodingKey {
            case protocolName = "protocol", classifier, classOrder = "class_order", tasks, accuracy, seenAccuracy = "seen_accuracy"
            case averageIncrementalAccuracy = "average_incremental_accuracy", lastAccuracy = "last_accuracy", forgetting
        }
    }

    var reportPath: String { outputDir + "/cil/report.json" }

    init(spec: ClassIncrementalSpec, outputDir: String, log: @escaping (String) -> Void) throws {
        self.spec = spec
        self.outputDir = outputDir
        self.log = log
        folder = try ImageClassFolder(root: spec.data, namesFile: spec.classNames)
        guard let plan = spec.plan(folder) else { throw TrainError("cil: protocol \(spec.protocol) does not fit the \(folder.classes.count) classes of \(spec.data)") }
        (order, tasks) = plan
        // A resumed run continues the matrix its earlier evaluations wrote.
        if let data = FileManager.default.contents(atPath: reportPath), let report = try? JSONDecoder().decode(Report.self, from: data) {
            rows = report.accuracy
            seen = report.seenAccuracy
        }
    }

    /// Display names of task b's classes, in order.
    func names(ofTask b: Int) -> [String] { order[tasks[b]].map { folder.displayName($0)! } }

    /// Whether task `b` has been scored already (a resumed run).
    func isDone(_ b: Int) -> Bool { rows.count > b }

    /// Scores the model after task `b` (0-based) and rewrites the reports.
    func evaluate(afterTask b: Int, model: AnyModel, tokenizer: any TextTokenizer, template: ChatTemplate?) throws {
        // A resumed run re-scores from task b on; the rows before it must be there.
        guard rows.count >= b else {
            throw TrainError("\(reportPath) holds the scores of \(rows.count) tasks, but task \(b + 1) is next: the file does not belong to this run (remove it, or --overwrite)")
        }
        rows = Array(rows.prefix(b))
        seen = Array(seen.prefix(b))
        let seenClasses = Array(order[..<tasks[b].upperBound])
        var images: [(path: String, label: String)] = []
        for c in seenClasses {
            for path in try folder.images(split: spec.testSplit, class: c).prefix(spec.testPerClass ?? .max) { images.append((path, c)) }
        }
        let start = Date()
        var predictions: [(predicted: String?, generated: String?)]
        switch spec.classifier {
        case .prototype:
            guard let m = model.multimodal else { throw TrainError("cil: the prototype classifier needs a vision tower") }
            for c in order[tasks[b]] where prototypes[c] == nil {
                let features = try imageFeatures(try folder.images(split: "train", class: c), m)
                prototypes[c] = mean(features)
            }
            let features = try imageFeatures(images.map(\.path), m)
            let classPrototypes = seenClasses.map { prototypes[$0] }
            predictions = features.map { f in (Self.nearest(f, among: classPrototypes).map { seenClasses[$0] }, nil) }
        case .generative, .exact:
            let generated = try generate(images.map(\.path), model: model, tokenizer: tokenizer, template: template)
            let names = seenClasses.map { folder.displayName($0)! }
            let classFeatures = spec.classifier == .generative ? try names.map { try textFeature($0, model.decoder, tokenizer) } : []
            predictions = try generated.map { text in
                let name = extractName(text)
                if let exact = names.firstIndex(where: { $0.lowercased() == name.lowercased() }) { return (seenClasses[exact], text) }
                guard spec.classifier == .generative, let f = try textFeature(name, model.decoder, tokenizer) else { return (nil, text) }
                return (Self.nearest(f, among: classFeatures).map { seenClasses[$0] }, text)
            }
        }
        // Accuracy per task seen so far, and over every seen image.
        var row: [Double] = [], correct = 0
        for j in 0...b {
            let classes = Set(order[tasks[j]])
            let members = images.indices.filter { classes.contains(images[$0].label) }
            let right = members.filter { predictions[$0].predicted == images[$0].label }.count
            correct += right
            row.append(members.isEmpty ? 0 : Double(right) / Double(members.count))
        }
        rows.append(row)
        seen.append(images.isEmpty ? 0 : Double(correct) / Double(images.count))
        try writePredictions(b, images: images, predictions: predictions)
        try writeReports()
        log(String(format: "cil after task%d (%d classes seen, %d test images, %.1f s): accuracy %.4f; by task %@", b + 1, seenClasses.count,
                   images.count, Date().timeIntervalSince(start), seen[b], row.map { String(format: "%.3f", $0) }.joined(separator: " ")))
    }

    /// The index of the candidate nearest to `feature` by cosine (the first on ties; nil
    /// candidates, names with no tokens, never win); nil when there is none.
    static func nearest(_ feature: [Float], among candidates: [[Float]?]) -> Int? {
        var best: (index: Int, cos: Double)?
        for (i, c) in candidates.enumerated() {
            guard let c else { continue }
            let cos = cosineSimilarity(feature, c)
            if best == nil || cos > best!.cos { best = (i, cos) }
        }
        return best?.index
    }

    /// The text after the answer's prefix, up to its suffix: "This is a photo of a seven." → "seven".
    func extractName(_ generated: String) -> String {
        let parts = spec.answer.components(separatedBy: "{name}")
        var text = generated.trimmingCharacters(in: .whitespacesAndNewlines)
        let prefix = parts.first?.trimmingCharacters(in: .whitespaces) ?? ""
        if !prefix.isEmpty, text.lowercased().hasPrefix(prefix.lowercased()) { text = String(text.dropFirst(prefix.count)) }
        if parts.count > 1 {
            let suffix = parts[1].trimmingCharacters(in: .whitespaces)
            if !suffix.isEmpty, let r = text.range(of: suffix) { text = String(text[..<r.lowerBound]) }
        }
        if let newline = text.firstIndex(of: "\n") { text = String(text[..<newline]) }
        return text.trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters))
    }

    /// A name's text feature (`cil.text_features`), nil for an empty name.
    func textFeature(_ name: String, _ decoder: DecoderModel, _ tokenizer: any TextTokenizer) throws -> [Float]? {
        let ids = tokenizer.encode(name)
        switch spec.textFeatures {
        case .hidden: return try decoder.meanHiddenState(ids)
        case .embeddings: return decoder.meanEmbedding(ids)
        }
    }

    /// Greedy answers to the question about each image (continuous batching where the decoder allows).
    func generate(_ paths: [String], model: AnyModel, tokenizer: any TextTokenizer, template: ChatTemplate?) throws -> [String] {
        let generator = BatchGenerator(model: model, tokenizer: tokenizer, template: try ChatFormat.resolve(template, tokenizer: tokenizer),
                                       options: SamplingOptions(), maxNewTokens: spec.maxNewTokens,
                                       stopTokens: StopTokens.of(tokenizer: tokenizer, config: model.decoder.config, generation: nil))
        let requests = paths.enumerated().map { InferRequest(id: String($0.offset), prompt: spec.question, image: $0.element) }
        var out = [String](repeating: "", count: paths.count)
        let record = { (r: InferResult) in out[Int(r.id)!] = r.output }
        if generator.refillsSlots {
            var failure: Error?
            try generator.generate(stream: requests, seeds: requests.map { _ in 0 }, slots: 16, onFinish: record) { _, e in failure = failure ?? e }
            if let failure { throw failure }
        } else {
            for start in stride(from: 0, to: requests.count, by: 16) {
                let batch = Array(requests[start..<min(requests.count, start + 16)])
                try generator.generate(batch, seeds: batch.map { _ in 0 }, onFinish: record)
            }
        }
        return out
    }

    /// Each image's pooled tower feature: the mean over the tower's selected features (the
    /// visual tokens' source, before the projector).
    func imageFeatures(_ paths: [String], _ m: MultimodalModel) throws -> [[Float]] {
        let B = 32, size = m.config.visionConfig.imageSize, F = m.imageTokens, C = m.config.visionConfig.hiddenSize
        let acts = m.encoder.makeActivations(batch: B)
        var out: [[Float]] = []
        for start in stride(from: 0, to: paths.count, by: B) {
            let batch = Array(paths[start..<min(paths.count, start + B)])
            for (i, path) in batch.enumerated() {
                m.config.imagePreprocessor.process(try ImageDecoder.decode(path: path), into: acts.pixels.data + i * 3 * size * size)
            }
            m.encoder.forward(acts)
            for i in batch.indices {
                var f = [Float](repeating: 0, count: C)
                for t in 0..<F { for j in 0..<C { f[j] += acts.features.data[(i * F + t) * C + j] / Float(F) } }
                out.append(f)
            }
        }
        return out
    }

    func mean(_ rows: [[Float]]) -> [Float] {
        var m = [Float](repeating: 0, count: rows.first?.count ?? 0)
        for r in rows { for j in r.indices { m[j] += r[j] / Float(rows.count) } }
        return m
    }

    func writePredictions(_ b: Int, images: [(path: String, label: String)], predictions: [(predicted: String?, generated: String?)]) throws {
        try OutputPath.createDirectory(outputDir + "/cil")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lines = Data()
        for (image, p) in zip(images, predictions) {
            var record: [String: String] = ["image": image.path, "class": folder.displayName(image.label)!,
                                            "predicted": p.predicted.flatMap { folder.displayName($0) } ?? "",
                                            "correct": p.predicted == image.label ? "true" : "false"]
            if let g = p.generated { record["generated"] = g }
            lines += try encoder.encode(record) + Data("\n".utf8)
        }
        try AtomicFile.write(lines, to: outputDir + "/cil/task\(b + 1).jsonl")
    }

    /// `cil/report.json`, and `continual.json` / `continual.md` over the tasks scored so far.
    func writeReports() throws {
        let T = rows.count, names = (0..<T).map { "task\($0 + 1)" }
        let square = rows.map { $0 + Array(repeating: 0, count: T - $0.count) }
        let average = seen.reduce(0, +) / Double(T)
        let metrics = ContinualMetrics(tasks: names, accuracy: square, averageAccuracy: average, lastAccuracy: seen[T - 1])
        let report = Report(protocolName: spec.protocol, classifier: spec.classifier.rawValue, classOrder: order.map { folder.displayName($0)! },
                            tasks: tasks.indices.map(names(ofTask:)), accuracy: rows, seenAccuracy: seen,
                            averageIncrementalAccuracy: average, lastAccuracy: seen[T - 1], forgetting: metrics.forgetting)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try OutputPath.createDirectory(outputDir + "/cil")
        try AtomicFile.write(encoder.encode(report), to: reportPath)
        try AtomicFile.write(encoder.encode(metrics), to: outputDir + "/continual.json")
        var md = "# Class-incremental learning (\(spec.protocol), \(spec.classifier.rawValue) classifier)\n\n"
        md += "Class order: " + order.map { folder.displayName($0)! }.joined(separator: ", ") + "\n\n"
        md += "| after | classes seen | A_b (all seen test images) |\n|---|---:|---:|\n"
        for (i, a) in seen.enumerated() { md += "| task\(i + 1) | \(tasks[i].upperBound) | \(String(format: "%.4f", a)) |\n" }
        md += "\nAverage incremental accuracy Ā = \(String(format: "%.4f", average)), last accuracy A_B = \(String(format: "%.4f", seen[T - 1])).\n\n"
        md += "Accuracy on each task's classes (columns) after each task (rows; 0 before a task is learned):\n\n" + metrics.markdown()
        try AtomicFile.write(Data(md.utf8), to: outputDir + "/continual.md")
    }
}
