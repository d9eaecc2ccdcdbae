import Data
import Eval
import Foundation

/// The text-only suites a run scores before its first stage and after each stage.
public struct EvalSpec: Codable, Sendable, Equatable {
    public var suites: [EvalSuiteSpec]
    /// A task sequence: which stage learns which suite's task, in order. Once every one of these
    /// stages has been evaluated, `OUTPUT/continual.{json,md,svg}` hold the accuracy matrix and
    /// average accuracy, last accuracy, BWT and average forgetting.
    public var tasks: [EvalTaskSpec]

    public enum CodingKeys: String, CodingKey, CaseIterable { case suites, tasks }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        suites = try c.decode([EvalSuiteSpec].self, forKey: .suites)
        tasks = try c.decodeIfPresent([EvalTaskSpec].self, forKey: .tasks) ?? []
    }
}

/// One task of a sequence: the stage that learns it and the suite (by name) that measures it.
public struct EvalTaskSpec: Codable, Sendable, Equatable {
    public var stage: String
    public var suite: String

    public enum CodingKeys: String, CodingKey, CaseIterable { case stage, suite }
}

/// One suite of the `eval` block.
public struct EvalSuiteSpec: Codable, Sendable, Equatable {
    /// A short name for tables and charts.
    public var name: String
    /// An MMLU-layout directory, a CSV or a JSONL file.
    public var path: String
    public var mode: ScoringMode
    public var shots: Int?
    public var split: String
    public var limit: Int?
    /// The metric charted and compared: `acc`, or `acc_norm` / `acc_bytes` (continuation mode only).
    public var metric: String
    /// How image questions are framed: the template the model was instructed with (default: the
    /// model's own chat template, else chatml, as the instruct stage renders).
    public var template: ChatTemplate?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, path, mode, shots, split, limit, metric, template
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        path = try c.decode(String.self, forKey: .path)
        mode = try c.decodeIfPresent(ScoringMode.self, forKey: .mode) ?? .continuation
        shots = try c.decodeIfPresent(Int.self, forKey: .shots)
        split = try c.decodeIfPresent(String.self, forKey: .split) ?? "test"
        limit = try c.decodeIfPresent(Int.self, forKey: .limit)
        metric = try c.decodeIfPresent(String.self, forKey: .metric) ?? (mode == .continuation ? "acc_norm" : "acc")
        template = try c.decodeIfPresent(ChatTemplate.self, forKey: .template)
    }
}
