import Data
import Foundation
import Model
import Tensor
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
    /// Route image questions' visual tokens through Parrot's MoE, when the model has one.
    public var moe = true

    public init(mode: ScoringMode = .letter, shots: Int? = nil, limit: Int? = nil, truncation: LogLikelihood.Truncation = .left,
                moe: Bool = true) {
        self.mode = mode
        self.shots = shots
        self.limit = limit
        self.truncation = truncation
        self.moe = moe
    }

    /// Letter mode defaults to MMLU's 5 shots, continuation to 0.
    public var resolvedShots: Int { shots ?? (mode == .letter ? 5 : 0) }

    /// Throws unless `shots` ≥ 0 and `limit` ≥ 1.
    public func validate() throws {
        if let shots, shots < 0 { throw EvalError("--shots must be at least 0, got \(shots)") }
        if let limit, limit < 1 { throw EvalError("--limit must be at least 1, got \(limit)") }
    }
}

/// Scores multiple-choice suites with a decoder, as lm-evaluation-harness does.
///
/// Continuation: context = BOS + tokens(question); each choice's tokens are those of
/// `question + delimiter + choice`, encoded as one string, after the first |tokens(question)|;
/// acc takes the highest Σ log p, acc_norm the highest Σ log p / characters of the choice
/// (`len(choice)` in lm-evaluation-harness: Unicode code points), acc_bytes the highest per UTF-8 byte.
/// Letter: context = BOS + tokens(MMLU prompt ending "Answer:"); choices are " A", " B", … taken
/// the same way; acc takes the most likely. Deterministic: no sampling anywhere.
///
/// Items with an image need a multimodal model: the image runs through the vision tower and the
/// projector once, the question is put in a user turn (`template`) with the image's visual tokens,
/// and the choices are scored as continuations of the assistant's turn.
public final class Evaluator {
    public let decoder: DecoderModel
    public let tokenizer: any TextTokenizer
    public let multimodal: MultimodalModel?
    /// How an image question is framed (the template the model was instructed with); nil: the
    /// model's own chat template, else chatml, as an instruct stage renders its conversations.
    public var template: ChatTemplate?
    let scorer: LogLikelihood
    let bos: [Int32]
    private lazy var encoding = multimodal.map { $0.makeImageEncoding(images: 1, maxGuidance: scorer.maxLength, routedOneByOne: true) }
    /// Parrot: the route (weights and guidance vector) of every image question scored so far, with its language.
    public private(set) var routing: [(language: String?, route: ParrotRoute)] = []

    public init(decoder: DecoderModel, tokenizer: any TextTokenizer, truncation: LogLikelihood.Truncation = .left) {
        self.decoder = decoder
        self.tokenizer = tokenizer
        multimodal = nil
        scorer = LogLikelihood(decoder: decoder, truncation: truncation)
        bos = tokenizer.bosPrefix
    }

    /// The model in `directory` (the shared loader: weights and tokenizer); with
    /// `languageModelOnly`, the decoder alone (text suites).
    public convenience init(directory: String, languageModelOnly: Bool = false, truncation: LogLikelihood.Truncation = .left,
                            precision: WeightPrecision = .f32) throws {
        let loaded = try LoadedModel(directory: directory, languageModelOnly: languageModelOnly, precision: precision)
        self.init(model: loaded.model, tokenizer: loaded.tokenizer, truncation: truncation)
    }

    /// A text-only model scores text suites; a multimodal one image suites too.
    public convenience init(model: AnyModel, tokenizer: any TextTokenizer, truncation: LogLikelihood.Truncation = .left) {
        switch model {
        case .text(let d): self.init(decoder: d, tokenizer: tokenizer, truncation: truncation)
        case .multimodal(let m): self.init(model: m, tokenizer: tokenizer, truncation: truncation)
        }
    }

    public init(model: MultimodalModel, tokenizer: any TextTokenizer, truncation: LogLikelihood.Truncation = .left) {
        decoder = model.decoder
        self.tokenizer = tokenizer
        multimodal = model
        scorer = LogLikelihood(decoder: model.decoder, truncation: truncation)
        bos = tokenizer.bosPrefix
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

    /// Scores one item: whether the choice picked by acc (and by acc_norm and acc_bytes) is the answer.
    public func score(_ item: MultipleChoiceItem, examples: [MultipleChoiceItem], options: EvalOptions) throws -> ItemScore {
        if let image = item.image { return try scoreWithImage(item, image: image, options: options) }
        switch options.mode {
        case .continuation:
            let shots = examples.prefix(options.resolvedShots).map { $0.question + $0.delimiter + $0.choices[$0.answer] + "\n\n" }.joined()
            let text = shots + item.question
            let context = tokenizer.encode(text)
            let conts = item.choices.map { continuation(of: context, text, item.delimiter + $0) }
            let ll = try scorer.score(context: bos + context, continuations: conts)
            return ItemScore(logLikelihoods: ll, choices: item.choices, answer: item.answer)
        case .letter:
            let prompt = letterPrompt(item, examples: examples, shots: options.resolvedShots)
            let context = tokenizer.encode(prompt)
            let conts = item.choices.indices.map { continuation(of: context, prompt, " " + SuiteLoader.letters[$0]) }
            let ll = try scorer.score(context: bos + context, continuations: conts)
            return ItemScore(acc: Self.argmax(ll) == item.answer)
        }
    }

    /// An image question: the user turn holds `<image>` and the question (with lettered choices
    /// in letter mode); the choices continue the assistant's turn directly.
    func scoreWithImage(_ item: MultipleChoiceItem, image: String, options: EvalOptions) throws -> ItemScore {
        let (ll, labels) = try imageLogLikelihoods(item, image: image, mode: options.mode, moe: options.moe)
        return options.mode == .continuation ? ItemScore(logLikelihoods: ll, choices: labels, answer: item.answer)
                                             : ItemScore(acc: Self.argmax(ll) == item.answer)
    }

    /// Σ log p(choice | image, question) per choice (per letter in letter mode), and the scored strings.
    public func imageLogLikelihoods(_ item: MultipleChoiceItem, image: String, mode: ScoringMode, moe: Bool = true) throws -> ([Double], [String]) {
        let (m, encoding, prompt, promptTokens) = try prepare(item, image: image, mode: mode)
        let c = m.config
        let routed = moe && m.moe != nil
        let (tokens, routing) = m.visualTokens(encoding, guidance: routed ? .prompts([bos + promptTokens]) : nil)
        if routed, let route = routing.first ?? nil { self.routing.append((item.language, route)) }
        let imageToken = Int32(c.imageTokenIndex)
        let context = bos + ImagePlaceholders.expand(promptTokens, imageToken: imageToken, count: m.imageTokens)
        let visual = VisualTokens(tokens: tokens, placement: context.withUnsafeBufferPointer {
            VisualTokens.placement(image: 0, tokensPerImage: m.imageTokens, imageToken: imageToken, in: $0, rowOffset: 0)
        })
        let labels = mode == .letter ? item.choices.indices.map { SuiteLoader.letters[$0] } : item.choices
        let conts = labels.map { continuation(of: promptTokens, prompt, $0) }
        return (try scorer.score(context: context, continuations: conts, visual: visual), labels)
    }

    /// Parrot's route of an image question (the tower, the projector and the router only, no
    /// scoring); nil when the model has no MoE.
    public func route(_ item: MultipleChoiceItem, image: String) throws -> ParrotRoute? {
        let (m, encoding, _, promptTokens) = try prepare(item, image: image, mode: .continuation)
        guard m.moe != nil else { return nil }
        return m.visualTokens(encoding, guidance: .prompts([bos + promptTokens])).routing.first ?? nil
    }

    /// The image of `item` preprocessed into the encoding's pixels, and its prompt (a user turn
    /// holding `<image>` and the question, lettered choices in letter mode) and the prompt's tokens.
    private func prepare(_ item: MultipleChoiceItem, image: String, mode: ScoringMode) throws
        -> (MultimodalModel, ImageEncoding, String, [Int32]) {
        guard let m = multimodal, let encoding else {
            throw EvalError("\(item.source): an image question needs a multimodal model (config.json with text_config and vision_config)")
        }
        do {
            let decoded = try ImageDecoder.decode(path: image)
            m.config.imagePreprocessor.process(decoded, into: encoding.vision.pixels.data)
        } catch {
            throw EvalError("\(item.source): \(error)")
        }
        var question = item.question
        if mode == .letter {
            question += "\n" + item.choices.enumerated().map { "\(SuiteLoader.letters[$0.offset]). \($0.element)" }.joined(separator: "\n")
        }
        let prompt = try ChatFormat.resolve(template, tokenizer: tokenizer).generationPrompt(SpecialTokens.image + "\n" + question)
        return (m, encoding, prompt, tokenizer.encode(prompt))
    }

    /// Scores a whole suite. `progress(done, total)` is called after each item.
    public func run(_ suite: MultipleChoiceSuite, options: EvalOptions, modelName: String,
                    progress: (Int, Int) -> Void = { _, _ in }) throws -> EvalResult {
        try options.validate()
        let start = Date()
        let plan = suite.subjects.map { ($0.name, Array($0.items.prefix(options.limit ?? .max))) }
        let total = plan.reduce(0) { $0 + $1.1.count }
        let continuation = options.mode == .continuation
        var done = 0, subjects: [String: Score] = [:], overall = Tally(), byLanguage: [String: Tally] = [:]
        for (name, items) in plan {
            var subject = Tally()
            for item in items {
                let verdict = try score(item, examples: suite.examples[name] ?? [], options: options)
                subject.add(verdict)
                overall.add(verdict)
                if let lang = item.language { byLanguage[lang, default: Tally()].add(verdict) }
                done += 1
                progress(done, total)
            }
            subjects[name] = subject.score(continuation: continuation)
        }
        let seconds = Date().timeIntervalSince(start)
        return EvalResult(model: modelName, suite: suite.name, mode: options.mode, shots: options.resolvedShots,
                          overall: overall.score(continuation: continuation),
                          macroAcc: subjects.keys.sorted().reduce(0) { $0 + subjects[$1]!.acc } / Double(max(subjects.count, 1)),  // in name order: deterministic
                          subjects: subjects,
                          languages: byLanguage.isEmpty ? nil : byLanguage.mapValues { $0.score(continuation: continuation) },
                          seconds: seconds, questionsPerSecond: Double(total) / max(seconds, 1e-9))
    }

    static func argmax(_ x: [Double]) -> Int { x.indices.max { x[$0] < x[$1] || (x[$0] == x[$1] && $0 > $1) }! }
}
