import Foundation

/// Accuracy over some items.
public struct Score: Codable, Sendable, Equatable {
    public var acc: Double
    /// Continuation mode only: accuracy after dividing each choice's log-likelihood by its length
    /// in characters (Unicode code points, Python's `len`), as lm-evaluation-harness does.
    public var accNorm: Double?
    /// Continuation mode only: the same divided by the choice's UTF-8 length in bytes (what this
    /// project reported as acc_norm before; it ranks CJK, Arabic or Cyrillic choices differently).
    public var accBytes: Double?
    public var n: Int

    enum CodingKeys: String, CodingKey { case acc, accNorm = "acc_norm", accBytes = "acc_bytes", n }

    public init(acc: Double, accNorm: Double?, accBytes: Double? = nil, n: Int) {
        self.acc = acc
        self.accNorm = accNorm
        self.accBytes = accBytes
        self.n = n
    }

    /// The metrics a recipe's `eval` block may chart: acc always, the normalised ones in continuation mode.
    public static let metrics = ["acc", "acc_norm", "acc_bytes"]

    /// `metric`'s value (acc when the normalised one is absent, as in letter mode).
    public func value(of metric: String) -> Double {
        switch metric {
        case "acc_norm": return accNorm ?? acc
        case "acc_bytes": return accBytes ?? acc
        default: return acc
        }
    }
}

/// The result of one `eval` run; its JSON is the contract other tools read:
/// `{"model", "suite", "mode", "shots", "overall": {"acc", "acc_norm"?, "acc_bytes"?, "n"}, "macro_acc",
///   "subjects": {"<name>": {"acc", "acc_norm"?, "acc_bytes"?, "n"}}}` (plus timing fields).
public struct EvalResult: Codable, Sendable, Equatable {
    public var model: String
    public var suite: String
    public var mode: ScoringMode
    public var shots: Int
    public var overall: Score
    /// Mean of the per-subject accuracies.
    public var macroAcc: Double
    public var subjects: [String: Score]
    /// Multimodal suites: accuracy per language.
    public var languages: [String: Score]?
    public var seconds: Double?
    public var questionsPerSecond: Double?

    enum CodingKeys: String, CodingKey {
        case model, suite, mode, shots, overall, macroAcc = "macro_acc", subjects, languages, seconds
        case questionsPerSecond = "questions_per_second"
    }

    public init(model: String, suite: String, mode: ScoringMode, shots: Int, overall: Score, macroAcc: Double,
                subjects: [String: Score], languages: [String: Score]? = nil, seconds: Double? = nil, questionsPerSecond: Double? = nil) {
        self.languages = languages
        self.model = model
        self.suite = suite
        self.mode = mode
        self.shots = shots
        self.overall = overall
        self.macroAcc = macroAcc
        self.subjects = subjects
        self.seconds = seconds
        self.questionsPerSecond = questionsPerSecond
    }

    /// Several suites' results as one suite's: subjects and languages of the same name pooled,
    /// overall and macro accuracy over the pool, exactly as scoring the suites' items together
    /// gives (every rate is a count over n). Normalised accuracies only when every result has them.
    public static func merged(_ results: [EvalResult], suite: String, model: String) -> EvalResult {
        let continuation = results.allSatisfy { $0.mode == .continuation }
        var overall = Tally(), subjects: [String: Tally] = [:], languages: [String: Tally] = [:]
        for r in results {
            overall = overall + Tally(r.overall)
            for (name, s) in r.subjects { subjects[name] = (subjects[name] ?? Tally()) + Tally(s) }
            for (name, s) in r.languages ?? [:] { languages[name] = (languages[name] ?? Tally()) + Tally(s) }
        }
        let scores = subjects.mapValues { $0.score(continuation: continuation) }
        let seconds = results.compactMap(\.seconds).reduce(0, +)
        return EvalResult(model: model, suite: suite, mode: continuation ? .continuation : .letter, shots: results.map(\.shots).max() ?? 0,
                          overall: overall.score(continuation: continuation),
                          macroAcc: scores.keys.sorted().reduce(0) { $0 + scores[$1]!.acc } / Double(max(scores.count, 1)),
                          subjects: scores, languages: languages.isEmpty ? nil : languages.mapValues { $0.score(continuation: continuation) },
                          seconds: seconds, questionsPerSecond: Double(overall.n) / max(seconds, 1e-9))
    }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public static func load(_ path: String) throws -> EvalResult {
        guard let data = FileManager.default.contents(atPath: path) else { throw EvalError("\(path): file not found") }
        do { return try JSONDecoder().decode(EvalResult.self, from: data) } catch {
            throw EvalError("\(path): not an eval result JSON (\(error))")
        }
    }

    /// A Markdown table: one row per subject, then the overall (micro) and macro rows.
    public func markdown() -> String {
        let norm = overall.accNorm != nil
        var s = "| subject | n | acc |\(norm ? " acc_norm |" : "")\n|---|---:|---:|\(norm ? "---:|" : "")\n"
        for name in subjects.keys.sorted() {
            let v = subjects[name]!
            s += "| \(name) | \(v.n) | \(Self.f(v.acc)) |\(norm ? " \(Self.f(v.accNorm ?? 0)) |" : "")\n"
        }
        s += "| **overall** | \(overall.n) | **\(Self.f(overall.acc))** |\(norm ? " **\(Self.f(overall.accNorm ?? 0))** |" : "")\n"
        s += "| macro | \(subjects.count) | \(Self.f(macroAcc)) |\(norm ? " |" : "")\n"
        if let languages {
            s += "\n| language | n | acc |\(norm ? " acc_norm |" : "")\n|---|---:|---:|\(norm ? "---:|" : "")\n"
            for name in languages.keys.sorted() {
                let v = languages[name]!
                s += "| \(name) | \(v.n) | \(Self.f(v.acc)) |\(norm ? " \(Self.f(v.accNorm ?? 0)) |" : "")\n"
            }
        }
        return s
    }

    static func f(_ x: Double) -> String { String(format: "%.4f", x) }
}
