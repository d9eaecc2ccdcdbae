import Foundation
import Model
import Tokenizer

/// Settings of an evaluation run.
public struct EvalOptions: Sendable {
    public var mode: ScoringMode = .letter
    /// Few-shot examples (letter mode: from `dev/`, reduced while the prompt is too long).
    public var shots: Int?
    /// Score at most this many items per subject.
    public var limit: Int?
    /// What gives way when a question and a choice exceed the model's context.
    public var truncation: LogLikelihood.Truncation = .left

    public init(mode: ScoringMode = .letter, shots: Int? = nil, limit: Int? = nil, truncation: LogLikelihood.Truncation = .left) {
        self.mode = mode
        self.shots = shots
        self.limit = limit
        self.truncation = truncation
    }

    /// Letter mode defaults to MMLU's 5 shots, continuation to 0.
    public var resolvedShots: Int { shots ?? (mode == .letter ? 5 : 0) }
}

/// Scores multiple-choice suites with a decoder, as lm-evaluation-harness does.
///
/// Continuation: context = BOS + tokens(question); each choice's tokens are those of
/// `question + delimiter + choice`, encoded as one string, after the first |tokens(question)|;
/// acc takes the highest Σ log p, acc_norm the highest Σ log p / UTF-8 bytes of the choice.
/// Letter: context = BOS + tokens(MMLU prompt ending "Answer:"); choices are " A", " B", … taken
/// the same way; acc takes the most likely. Deterministic: no sampling anywhere.
public final class Evaluator {
    public let decoder: Decoder
    public let tokenizer: SentencePieceTokenizer
    let scorer: LogLikelihood
    let bos: [Int32]

    public init(decoder: Decoder, tokenizer: SentencePieceTokenizer, truncation: LogLikelihood.Truncation = .left) {
        self.decoder = decoder
        self.tokenizer = tokenizer
        scorer = LogLikelihood(decoder: decoder, truncation: truncation)
        bos = tokenizer.bosID.map { [$0] } ?? []
    }

    /// The continuation tokens of `context + text`, after the context's own tokens.
    func continuation(of context: [Int32], _ contextText: String, _ text: String) -> [Int32] {
        let all = tokenizer.encode(contextText + text)
        let tail = Array(all.dropFirst(context.count))
        return tail.isEmpty ? [all.last ?? 0] : tail
    }

    /// The letter-mode prompt of `item`: the MMLU header, up to `shots` examples, the item;
    /// examples are dropped while the prompt does not fit the model's context.
    public func letterPrompt(_ item: MultipleChoiceItem, examples: [MultipleChoiceItem], shots: Int) -> String {
        var k = min(shots, examples.count)
        while true {
            let prompt = MMLUPrompt.prompt(item, examples: examples.prefix(k))
            if k == 0 || bos.count + tokenizer.encode(prompt).count + 2 <= scorer.maxLength { return prompt }
            k -= 1
        }
    }

    /// Scores one item: whether the choice picked by acc (and by acc_norm) is the answer.
    public func score(_ item: MultipleChoiceItem, examples: [MultipleChoiceItem], options: EvalOptions) -> (acc: Bool, accNorm: Bool?) {
        switch options.mode {
        case .continuation:
            let shots = examples.prefix(options.resolvedShots).map { $0.question + $0.delimiter + $0.choices[$0.answer] + "\n\n" }.joined()
            let text = shots + item.question
            let context = tokenizer.encode(text)
            let conts = item.choices.map { continuation(of: context, text, item.delimiter + $0) }
            let ll = scorer.score(context: bos + context, continuations: conts)
            let normalized = zip(ll, item.choices).map { $0 / Double(max(1, $1.utf8.count)) }
            return (Self.argmax(ll) == item.answer, Self.argmax(normalized) == item.answer)
        case .letter:
            let prompt = letterPrompt(item, examples: examples, shots: options.resolvedShots)
            let context = tokenizer.encode(prompt)
            let conts = item.choices.indices.map { continuation(of: context, prompt, " " + SuiteLoader.letters[$0]) }
            let ll = scorer.score(context: bos + context, continuations: conts)
            return (Self.argmax(ll) == item.answer, nil)
        }
    }

    /// Scores a whole suite. `progress(done, total)` is called after each item.
    public func run(_ suite: MultipleChoiceSuite, options: EvalOptions, modelName: String,
                    progress: (Int, Int) -> Void = { _, _ in }) -> EvalResult {
        let start = Date()
        let plan = suite.subjects.map { ($0.name, Array($0.items.prefix(options.limit ?? .max))) }
        let total = plan.reduce(0) { $0 + $1.1.count }
        var done = 0, subjects: [String: Score] = [:]
        var correct = 0, correctNorm = 0
        for (name, items) in plan {
            var c = 0, cn = 0
            for item in items {
                let (acc, norm) = score(item, examples: suite.examples[name] ?? [], options: options)
                c += acc ? 1 : 0
                cn += norm == true ? 1 : 0
                done += 1
                progress(done, total)
            }
            let n = max(items.count, 1)
            subjects[name] = Score(acc: Double(c) / Double(n), accNorm: options.mode == .continuation ? Double(cn) / Double(n) : nil, n: items.count)
            correct += c
            correctNorm += cn
        }
        let seconds = Date().timeIntervalSince(start)
        let n = max(total, 1)
        return EvalResult(model: modelName, suite: suite.name, mode: options.mode, shots: options.resolvedShots,
                          overall: Score(acc: Double(correct) / Double(n), accNorm: options.mode == .continuation ? Double(correctNorm) / Double(n) : nil, n: total),
                          macroAcc: subjects.values.reduce(0) { $0 + $1.acc } / Double(max(subjects.count, 1)),
                          subjects: subjects, seconds: seconds, questionsPerSecond: Double(total) / max(seconds, 1e-9))
    }

    static func argmax(_ x: [Double]) -> Int { x.indices.max { x[$0] < x[$1] || (x[$0] == x[$1] && $0 > $1) }! }
}
