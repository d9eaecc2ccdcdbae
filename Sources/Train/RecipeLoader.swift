import Data
import Eval
import Foundation
import Model
import Yams

/// Reads a recipe YAML into a `Recipe`, with `--set key.path=value` overrides. Every error
/// names the file and line: unknown keys (with a "did you mean" for near misses), wrong
/// types, missing keys, impossible values and missing data files.
public enum RecipeLoader {
    /// The key structure a recipe may use, built from the structs' `CodingKeys`.
    indirect enum Schema: Sendable {
        case value
        case object([String: Schema])
        case list(Schema)
    }

    static func keys<K: CodingKey & CaseIterable>(_: K.Type, _ nested: [String: Schema] = [:]) -> Schema {
        .object(Dictionary(uniqueKeysWithValues: K.allCases.map { ($0.stringValue, nested[$0.stringValue] ?? .value) }))
    }

    static let schema: Schema = {
        let source = keys(DataSource.CodingKeys.self)
        return keys(Recipe.CodingKeys.self, [
            "model": keys(ModelSource.CodingKeys.self, ["architecture": keys(DecoderConfig.CodingKeys.self, ["wings": keys(WingsConfig.CodingKeys.self)]),
                                                        "wings": keys(WingsConfig.CodingKeys.self),
                                                        "parrot": keys(ParrotConfig.CodingKeys.self),
                                                        "vision": keys(VisionSpec.CodingKeys.self, ["architecture": keys(VisionConfig.CodingKeys.self)])]),
            "stages": .list(keys(Stage.CodingKeys.self, ["data": .list(source), "eval_data": .list(source),
                                                        "replay": keys(ReplaySpec.CodingKeys.self, ["data": .list(source)]), "ewc": keys(EWCSpec.CodingKeys.self),
                                                        "distillation": keys(DistillationSpec.CodingKeys.self, ["data": .list(source)]),
                                                        "feature_augmentation": keys(FeatureAugmentationSpec.CodingKeys.self)])),
            "generate": keys(GenerationSpec.CodingKeys.self),
            "eval": keys(EvalSpec.CodingKeys.self, ["suites": .list(keys(EvalSuiteSpec.CodingKeys.self)),
                                                    "tasks": .list(keys(EvalTaskSpec.CodingKeys.self))]),
        ])
    }()

    /// Loads `path`, applies `overrides` (`key.path=value`; list items by index, `stages.0.max_steps=5`),
    /// validates and decodes. Relative paths inside the recipe are resolved against the working directory.
    public static func load(path: String, overrides: [String] = []) throws -> Recipe {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError("\(path): recipe not found") }
        return try decode(String(decoding: data, as: UTF8.self), file: path, overrides: overrides)
    }

    public static func decode(_ yaml: String, file: String, overrides: [String] = []) throws -> Recipe {
        var node: Node
        do {
            guard let n = try Yams.compose(yaml: yaml) else { throw DataError("\(file): empty recipe") }
            node = n
        } catch let error as YamlError {
            throw DataError("\(file): not valid YAML: \(error)")
        }
        for o in overrides { node = try apply(override: o, to: node, file: file) }
        try validate(node, schema, path: [], file: file)
        let recipe: Recipe
        do {
            recipe = try YAMLDecoder().decode(Recipe.self, from: node)
        } catch let error as DecodingError {
            throw describe(error, root: node, file: file)
        }
        try check(recipe, root: node, file: file)
        return recipe
    }

    /// The recipe as YAML (saved in every checkpoint).
    public static func yaml(_ recipe: Recipe) throws -> String { try YAMLEncoder().encode(recipe) }

    // MARK: - Validation

    static func location(_ node: Node?, _ file: String) -> String {
        if let line = node?.mark?.line { return "\(file):\(line)" }
        return file
    }

    static func display(_ path: [String]) -> String {
        path.reduce("") { s, p in Int(p) != nil ? s + "[\(p)]" : (s.isEmpty ? p : s + "." + p) }
    }

    static func validate(_ node: Node, _ schema: Schema, path: [String], file: String) throws {
        switch (schema, node) {
        case (.value, _):
            return
        case (.object(let fields), .mapping(let mapping)):
            for (key, value) in mapping {
                guard let name = key.string else { throw DataError("\(location(key, file)): keys must be strings") }
                guard let sub = fields[name] else {
                    let hint = suggestion(for: name, among: Array(fields.keys)).map { " (did you mean '\($0)'?)" } ?? ""
                    let at = path.isEmpty ? "at the top level" : "in '\(display(path))'"
                    throw DataError("\(location(key, file)): unknown key '\(name)' \(at)\(hint)")
                }
                try validate(value, sub, path: path + [name], file: file)
            }
        case (.object, _):
            throw DataError("\(location(node, file)): '\(display(path))' should be a mapping of keys to values")
        case (.list(let item), .sequence(let sequence)):
            for (i, value) in sequence.enumerated() { try validate(value, item, path: path + [String(i)], file: file) }
        case (.list, _):
            throw DataError("\(location(node, file)): '\(display(path))' should be a list")
        }
    }

    /// The closest known key within an edit distance of max(2, length/3).
    static func suggestion(for key: String, among known: [String]) -> String? {
        var best: (key: String, distance: Int)?
        for candidate in known.sorted() {
            let d = editDistance(key, candidate)
            if d < (best?.distance ?? Int.max) { best = (candidate, d) }
        }
        guard let best, best.distance <= max(2, key.count / 3) else { return nil }
        return best.key
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }

    static func node(at path: [any CodingKey], in root: Node) -> Node? {
        var current: Node? = root
        for key in path {
            if let i = key.intValue, case .sequence(let s)? = current { current = i < s.count ? s[i] : nil }
            else { current = current?[key.stringValue] }
        }
        return current
    }

    static func describe(_ error: DecodingError, root: Node, file: String) -> DataError {
        func name(_ path: [any CodingKey]) -> String {
            display(path.map { $0.intValue.map(String.init) ?? $0.stringValue })
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = node(at: context.codingPath, in: root)
            let at = context.codingPath.isEmpty ? "the recipe" : "'\(name(context.codingPath))'"
            return DataError("\(location(parent, file)): \(at) is missing the required key '\(key.stringValue)'")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let n = node(at: context.codingPath, in: root)
            let got = n?.scalar.map { " '\($0.string)'" } ?? ""
            return DataError("\(location(n, file)): '\(name(context.codingPath))' should be \(describe(type)), got\(got.isEmpty ? " something else" : got)")
        case .dataCorrupted(let context):
            let n = node(at: context.codingPath, in: root)
            let got = n?.scalar.map { "'\($0.string)'" } ?? "this value"
            return DataError("\(location(n, file)): '\(name(context.codingPath))': \(got) is not valid (\(context.debugDescription))")
        @unknown default:
            return DataError("\(file): \(error)")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: "an integer"
        case is Float.Type, is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        default: String(describing: type).hasPrefix("Array") ? "a list" : "a mapping"
        }
    }

    /// Checks that cannot be expressed as types: one model source, steps or epochs per stage,
    /// positive sizes, and data files that exist.
    static func check(_ r: Recipe, root: Node, file: String) throws {
        func at(_ path: [String]) -> String {
            var n: Node? = root
            for k in path {
                if let i = Int(k), case .sequence(let s)? = n { n = i < s.count ? s[i] : nil } else { n = n?[k] }
            }
            return location(n, file)
        }
        switch (r.model.base, r.model.architecture) {
        case (nil, nil), (.some, .some):
            throw DataError("\(at(["model"])): 'model' needs exactly one of 'base' (a checkpoint directory) or 'architecture'")
        case (let base?, nil):
            guard FileManager.default.fileExists(atPath: base + "/config.json") else {
                throw DataError("\(at(["model", "base"])): 'model.base': no checkpoint at \(base) (config.json missing)")
            }
        case (nil, let arch?):
            do { try arch.validate(file: "'model.architecture'") } catch { throw DataError("\(at(["model", "architecture"])): \(error)") }
        }
        if let v = r.model.vision {
            do { try v.architecture.validate(file: "'model.vision'") } catch { throw DataError("\(at(["model", "vision", "architecture"])): \(error)") }
        }
        if r.tokenizer == nil && r.model.base == nil {
            throw DataError("\(file): 'tokenizer' is required when the model is initialised from an architecture")
        }
        if let t = r.tokenizer, !FileManager.default.fileExists(atPath: t) {
            throw DataError("\(at(["tokenizer"])): 'tokenizer': file not found: \(t)")
        }
        guard !r.stages.isEmpty else { throw DataError("\(at(["stages"])): 'stages' is empty") }
        guard r.saveTotalLimit >= 1 else { throw DataError("\(at(["save_total_limit"])): 'save_total_limit' must be at least 1") }
        var names = Set<String>()
        for (i, s) in r.stages.enumerated() {
            let p = ["stages", String(i)]
            guard names.insert(s.name).inserted else { throw DataError("\(at(p + ["name"])): stage name '\(s.name)' is used twice") }
            guard s.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !s.name.isEmpty else {
                throw DataError("\(at(p + ["name"])): stage name '\(s.name)' may hold only letters, digits, '-' and '_'")
            }
            guard s.maxSteps != nil || s.numTrainEpochs != nil else {
                throw DataError("\(at(p)): stage '\(s.name)' needs 'max_steps' or 'num_train_epochs'")
            }
            for (key, value) in [("per_device_train_batch_size", s.batchSize), ("gradient_accumulation_steps", s.gradientAccumulationSteps),
                                 ("model_max_length", s.modelMaxLength), ("logging_steps", s.loggingSteps),
                                 ("max_steps", s.maxSteps ?? 1), ("save_steps", s.saveSteps ?? 1), ("eval_steps", s.evalSteps ?? 1)] where value < 1 {
                throw DataError("\(at(p + [key])): '\(key)' must be at least 1, got \(value)")
            }
            guard s.learningRate > 0, s.learningRate.isFinite else {
                throw DataError("\(at(p + ["learning_rate"])): 'learning_rate' must be positive")
            }
            guard !s.data.isEmpty else { throw DataError("\(at(p + ["data"])): stage '\(s.name)' has no data") }
            if let replay = s.replay {
                guard i > 0 || replay.data != nil else { throw DataError("\(at(p + ["replay"])): the first stage has no earlier data to replay: give 'replay.data'") }
                for (j, d) in (replay.data ?? []).enumerated() where !FileManager.default.fileExists(atPath: d.path) {
                    throw DataError("\(at(p + ["replay", "data", String(j), "path"])): replay data file not found: \(d.path)")
                }
                guard replay.ratio > 0, replay.ratio < 1 else { throw DataError("\(at(p + ["replay", "ratio"])): 'replay.ratio' must lie strictly between 0 and 1") }
                guard replay.bufferSize >= 1 else { throw DataError("\(at(p + ["replay", "buffer_size"])): 'replay.buffer_size' must be at least 1") }
            }
            if let distill = s.distillation {
                guard i > 0 || distill.data != nil else { throw DataError("\(at(p + ["distillation"])): the first stage has no earlier data to distill on: give 'distillation.data'") }
                for (j, d) in (distill.data ?? []).enumerated() where !FileManager.default.fileExists(atPath: d.path) {
                    throw DataError("\(at(p + ["distillation", "data", String(j), "path"])): distillation data file not found: \(d.path)")
                }
                guard distill.weight > 0 else { throw DataError("\(at(p + ["distillation", "weight"])): 'distillation.weight' must be positive") }
                guard distill.temperature > 0 else { throw DataError("\(at(p + ["distillation", "temperature"])): 'distillation.temperature' must be positive") }
            }
            if let augmentation = s.featureAugmentation {
                guard s.replay != nil else { throw DataError("\(at(p + ["feature_augmentation"])): feature augmentation acts on replayed samples: add 'replay' to stage '\(s.name)'") }
                guard augmentation.beta > 0 else { throw DataError("\(at(p + ["feature_augmentation", "beta"])): 'feature_augmentation.beta' must be positive") }
            }
            if let ewc = s.ewc {
                guard i > 0 else { throw DataError("\(at(p + ["ewc"])): the first stage has no previous stage to consolidate") }
                guard ewc.lambda >= 0, ewc.batches >= 1 else { throw DataError("\(at(p + ["ewc"])): 'ewc.lambda' must be ≥ 0 and 'ewc.batches' ≥ 1") }
            }
            for (key, list) in [("data", s.data), ("eval_data", s.evalData)] {
                for (j, d) in list.enumerated() where !FileManager.default.fileExists(atPath: d.path) {
                    throw DataError("\(at(p + [key, String(j), "path"])): '\(display(p + [key, String(j), "path"]))': data file not found: \(d.path)")
                }
            }
        }
        for (i, suite) in (r.eval?.suites ?? []).enumerated() {
            let p = ["eval", "suites", String(i)]
            guard FileManager.default.fileExists(atPath: suite.path) else {
                throw DataError("\(at(p + ["path"])): 'eval.suites[\(i)].path': suite not found: \(suite.path)")
            }
            guard suite.metric == "acc" || (suite.metric == "acc_norm" && suite.mode == .continuation) else {
                throw DataError("\(at(p + ["metric"])): 'metric' must be acc, or acc_norm in continuation mode")
            }
        }
        if Set((r.eval?.suites ?? []).map(\.name)).count != (r.eval?.suites.count ?? 0) {
            throw DataError("\(at(["eval", "suites"])): suite names must differ")
        }
        // A task sequence: row i of the accuracy matrix must be "after learning task i", in order.
        var lastStage = -1, seenSuites = Set<String>()
        for (i, task) in (r.eval?.tasks ?? []).enumerated() {
            let p = ["eval", "tasks", String(i)]
            guard let stage = r.stages.firstIndex(where: { $0.name == task.stage }) else {
                throw DataError("\(at(p + ["stage"])): no stage named '\(task.stage)' (stages: \(r.stages.map(\.name).joined(separator: ", ")))")
            }
            guard stage > lastStage else {
                throw DataError("\(at(p + ["stage"])): tasks must follow the stages' order, each stage once ('\(task.stage)' comes too late)")
            }
            guard r.eval!.suites.contains(where: { $0.name == task.suite }) else {
                throw DataError("\(at(p + ["suite"])): no suite named '\(task.suite)' in eval.suites")
            }
            guard seenSuites.insert(task.suite).inserted else { throw DataError("\(at(p + ["suite"])): suite '\(task.suite)' measures two tasks") }
            lastStage = stage
        }
        if let g = r.generate, let e = g.expect, e.count != g.prompts.count {
            throw DataError("\(at(["generate", "expect"])): 'generate.expect' has \(e.count) entries for \(g.prompts.count) prompts")
        }
    }

    // MARK: - Overrides

    /// Sets `key.path=value` in the YAML tree (the value is parsed as YAML, so `5` is a number).
    static func apply(override: String, to root: Node, file: String) throws -> Node {
        guard let eq = override.firstIndex(of: "=") else {
            throw DataError("--set \(override): expected key.path=value")
        }
        let key = String(override[..<eq]), text = String(override[override.index(after: eq)...])
        let path = key.replacingOccurrences(of: "[", with: ".").replacingOccurrences(of: "]", with: "")
            .split(separator: ".").map(String.init)
        guard !path.isEmpty else { throw DataError("--set \(override): empty key") }
        let value: Node
        do {
            value = try Yams.compose(yaml: text) ?? Node("")
        } catch {
            throw DataError("--set \(key): value '\(text)' is not valid YAML")
        }
        return try set(value, at: path[...], in: root, full: key)
    }

    static func set(_ value: Node, at path: ArraySlice<String>, in node: Node, full: String) throws -> Node {
        guard let head = path.first else { return value }
        let rest = path.dropFirst()
        switch node {
        case .sequence(var s):
            guard let i = Int(head), i >= 0, i < s.count else {
                throw DataError("--set \(full): '\(head)' is not an index of a list of \(s.count)")
            }
            s[i] = try set(value, at: rest, in: s[i], full: full)
            return .sequence(s)
        case .mapping(var m):
            let child = m[head] ?? .mapping(Node.Mapping([]))
            m[head] = try set(value, at: rest, in: child, full: full)
            return .mapping(m)
        default:
            throw DataError("--set \(full): '\(head)' goes inside a value that is not a mapping or list")
        }
    }
}
