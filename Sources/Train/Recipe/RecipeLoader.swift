import Data
import Eval
import Foundation
import Support
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
        let stage = keys(Stage.CodingKeys.self, ["data": .list(source), "eval_data": .list(source),
                                                 "replay": keys(ReplaySpec.CodingKeys.self, ["data": .list(source)]), "ewc": keys(EWCSpec.CodingKeys.self),
                                                 "distillation": keys(DistillationSpec.CodingKeys.self, ["data": .list(source)]),
                                                 "feature_augmentation": keys(FeatureAugmentationSpec.CodingKeys.self),
                                                 "two_teacher": keys(TwoTeacherSpec.CodingKeys.self)])
        return keys(Recipe.CodingKeys.self, [
            "model": keys(ModelSource.CodingKeys.self, ["architecture": keys(DecoderConfig.CodingKeys.self, ["wings": keys(WingsConfig.CodingKeys.self),
                                                                                                                            "lora": keys(LoRAConfig.CodingKeys.self)]),
                                                        "wings": keys(WingsConfig.CodingKeys.self),
                                                        "lora": keys(LoRAConfig.CodingKeys.self),
                                                        "parrot": keys(ParrotConfig.CodingKeys.self),
                                                        "vision": keys(VisionSpec.CodingKeys.self, ["architecture": keys(VisionConfig.CodingKeys.self)])]),
            "stages": .list(stage),
            "cil": keys(ClassIncrementalSpec.CodingKeys.self, ["stage": stage]),
            "generate": keys(GenerationSpec.CodingKeys.self),
            "eval": keys(EvalSpec.CodingKeys.self, ["suites": .list(keys(EvalSuiteSpec.CodingKeys.self)),
                                                    "tasks": .list(keys(EvalTaskSpec.CodingKeys.self))]),
        ])
    }()

    /// Loads `path`, applies `overrides` (`key.path=value`; list items by index, `stages.0.max_steps=5`),
    /// validates and decodes. Relative paths inside the recipe are resolved against the working directory.
    public static func load(path: String, overrides: [String] = []) throws -> Recipe {
        guard let data = FileManager.default.contents(atPath: path) else { throw RecipeError(file: path, "recipe not found") }
        return try decode(String(decoding: data, as: UTF8.self), file: path, overrides: overrides)
    }

    public static func decode(_ yaml: String, file: String, overrides: [String] = []) throws -> Recipe {
        var node: Node
        do {
            guard let n = try Yams.compose(yaml: yaml) else { throw RecipeError(file: file, "empty recipe") }
            node = n
        } catch let error as YamlError {
            throw yamlError(error, file: file)
        }
        for o in overrides { node = try apply(override: o, to: node, file: file) }
        try validate(node, schema, path: [], file: file)
        node = try expandClassIncremental(node, file: file)
        let recipe: Recipe
        do {
            recipe = try YAMLDecoder().decode(Recipe.self, from: node)
        } catch let error as DecodingError {
            throw describe(error, root: node, file: file)
        } catch let error as UserFacingError where !(error is RecipeError) {
            // A config section's own check (an architecture's activation name, say): named by the recipe.
            throw RecipeError(file: file, "\(error)")
        }
        try RecipeChecks(recipe: recipe, at: RecipeLocator(root: node, file: file)).run()
        return recipe
    }

    /// The recipe as YAML (saved in every checkpoint).
    public static func yaml(_ recipe: Recipe) throws -> String { try YAMLEncoder().encode(recipe) }

    // MARK: - Validation

    /// Yams' error as one line: `recipe.yaml:68: not valid YAML: mapping values are not allowed in
    /// this context (column 55)`; Yams' own text adds the source line and a caret below.
    static func yamlError(_ error: YamlError, file: String) -> RecipeError {
        let first = "\(error)".split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        let parts = first.split(separator: ":", maxSplits: 2).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 3, let line = Int(parts[0]), let column = Int(parts[1]) else {
            return RecipeError(file: file, "not valid YAML: \(first)")
        }
        var message = parts[2]
        for prefix in ["error: ", "scanner: ", "parser: ", "composer: ", "reader: ", "emitter: "] where message.hasPrefix(prefix) {
            message.removeFirst(prefix.count)
        }
        if message.hasSuffix(":") { message.removeLast() }
        return RecipeError(file: file, line: line, "not valid YAML: \(message) (column \(column))")
    }

    static func error(at node: Node?, _ file: String, key: [String]? = nil, _ message: String) -> RecipeError {
        RecipeError(file: file, line: node?.mark?.line, key: key.map(display), message)
    }

    static func display(_ path: [String]) -> String { RecipeLocator.display(path) }

    static func validate(_ node: Node, _ schema: Schema, path: [String], file: String) throws {
        switch (schema, node) {
        case (.value, _):
            return
        case (.object(let fields), .mapping(let mapping)):
            for (key, value) in mapping {
                guard let name = key.string else { throw error(at: key, file, key: path, "keys must be strings") }
                guard let sub = fields[name] else {
                    let hint = suggestion(for: name, among: Array(fields.keys)).map { " (did you mean '\($0)'?)" } ?? ""
                    let at = path.isEmpty ? "at the top level" : "in '\(display(path))'"
                    throw error(at: key, file, key: path + [name], "unknown key '\(name)' \(at)\(hint)")
                }
                try validate(value, sub, path: path + [name], file: file)
            }
        case (.object, _):
            throw error(at: node, file, key: path, "'\(display(path))' should be a mapping of keys to values")
        case (.list(let item), .sequence(let sequence)):
            for (i, value) in sequence.enumerated() { try validate(value, item, path: path + [String(i)], file: file) }
        case (.list, _):
            throw error(at: node, file, key: path, "'\(display(path))' should be a list")
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

    static func describe(_ error: DecodingError, root: Node, file: String) -> RecipeError {
        func keyPath(_ path: [any CodingKey]) -> [String] { path.map { $0.intValue.map(String.init) ?? $0.stringValue } }
        func name(_ path: [any CodingKey]) -> String {
            display(path.map { $0.intValue.map(String.init) ?? $0.stringValue })
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = node(at: context.codingPath, in: root)
            let at = context.codingPath.isEmpty ? "the recipe" : "'\(name(context.codingPath))'"
            return Self.error(at: parent, file, key: keyPath(context.codingPath) + [key.stringValue], "\(at) is missing the required key '\(key.stringValue)'")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let n = node(at: context.codingPath, in: root)
            let got = n?.scalar.map { " '\($0.string)'" } ?? ""
            return Self.error(at: n, file, key: keyPath(context.codingPath), "'\(name(context.codingPath))' should be \(describe(type)), got\(got.isEmpty ? " something else" : got)")
        case .dataCorrupted(let context):
            let n = node(at: context.codingPath, in: root)
            let got = n?.scalar.map { "'\($0.string)'" } ?? "this value"
            return Self.error(at: n, file, key: keyPath(context.codingPath), "'\(name(context.codingPath))': \(got) is not valid (\(context.debugDescription))")
        @unknown default:
            return RecipeError(file: file, "\(error)")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is UInt64.Type: "a non-negative integer (0 to 2^64 − 1)"
        case is Float.Type, is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        default: String(describing: type).hasPrefix("Array") ? "a list" : "a mapping"
        }
    }

    // MARK: - Overrides

    /// Sets `key.path=value` in the YAML tree (the value is parsed as YAML, so `5` is a number).
    static func apply(override: String, to root: Node, file: String) throws -> Node {
        guard let eq = override.firstIndex(of: "=") else {
            throw RecipeError(file: "--set \(override)", "expected key.path=value")
        }
        let key = String(override[..<eq]), text = String(override[override.index(after: eq)...])
        let path = key.replacingOccurrences(of: "[", with: ".").replacingOccurrences(of: "]", with: "")
            .split(separator: ".").map(String.init)
        guard !path.isEmpty else { throw RecipeError(file: "--set \(override)", "empty key") }
        let value: Node
        do {
            value = try Yams.compose(yaml: text) ?? Node("")
        } catch {
            throw RecipeError(file: "--set \(key)", key: key, "value '\(text)' is not valid YAML")
        }
        return try set(value, at: path[...], in: root, full: key)
    }

    static func set(_ value: Node, at path: ArraySlice<String>, in node: Node, full: String) throws -> Node {
        guard let head = path.first else { return value }
        let rest = path.dropFirst()
        switch node {
        case .sequence(var s):
            guard let i = Int(head), i >= 0, i < s.count else {
                throw RecipeError(file: "--set \(full)", key: full, "'\(head)' is not an index of a list of \(s.count)")
            }
            s[i] = try set(value, at: rest, in: s[i], full: full)
            return .sequence(s)
        case .mapping(var m):
            let child = m[head] ?? .mapping(Node.Mapping([]))
            m[head] = try set(value, at: rest, in: child, full: full)
            return .mapping(m)
        default:
            throw RecipeError(file: "--set \(full)", key: full, "'\(head)' goes inside a value that is not a mapping or list")
        }
    }
}
