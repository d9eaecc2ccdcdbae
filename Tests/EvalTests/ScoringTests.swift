import Data
import Eval
import Foundation
import Model
import Tensor
import TestSupport
import Testing
import Tokenizer

struct ScoringTests {
    /// A small random decoder (not trained: log-likelihoods are all that matter here).
    func model(context: Int = 24) -> DecoderModel {
        let config = DecoderConfig(modelType: "qwen2", hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
                                   intermediateSize: 24, vocabSize: 40, maxPositionEmbeddings: context)
        let d = DecoderModel(config: config)
        d.initialize(seed: 2, std: 0.3)
        return d
    }

    /// Σ log p(continuation | context) from one plain forward pass over context + continuation.
    func naive(_ d: DecoderModel, _ context: [Int32], _ continuation: [Int32]) -> Double {
        let ids = context + continuation.dropLast()  // the last token is only predicted
        let acts = DecoderActivations(config: d.config, batch: 1, sequence: ids.count)
        acts.setBatch(tokens: ids, targets: ids)
        d.forward(acts)
        let V = d.config.vocabSize
        var s = 0.0
        for (j, t) in continuation.enumerated() {
            let row = (0..<V).map { Double(acts.logits[(context.count - 1 + j) * V + $0]) }
            let m = row.max()!
            s += row[Int(t)] - (m + log(row.map { exp($0 - m) }.reduce(0, +)))
        }
        return s
    }

    /// acc_norm divides by characters (Unicode code points, lm-evaluation-harness's `len`), acc_bytes
    /// by UTF-8 bytes: for Chinese against Latin choices they pick differently.
    @Test func accNormCountsCharactersAccBytesBytes() {
        // "日本": 2 characters, 6 bytes; "abc": 3 and 3. Per character -3 vs -1.33; per byte -1 vs -1.33.
        let s = ItemScore(logLikelihoods: [-6, -4], choices: ["日本", "abc"], answer: 0)
        #expect(s.acc == false && s.accNorm == false && s.accBytes == true)
        let t = ItemScore(logLikelihoods: [-6, -4], choices: ["日本", "abc"], answer: 1)
        #expect(t.acc && t.accNorm == true && t.accBytes == false)
        #expect(Score(acc: 0.5, accNorm: 0.25, accBytes: 0.75, n: 4).value(of: "acc_bytes") == 0.75)
    }

    /// Sharing the prefix's KV cache across a batch of continuations changes nothing.
    @Test func sharedPrefixEqualsNaiveScoring() throws {
        let d = model()
        let scorer = LogLikelihood(decoder: d)
        let context: [Int32] = [1, 5, 9, 12, 7]
        let continuations: [[Int32]] = [[3], [4, 8, 2], [30, 31], [6, 6, 6, 6, 6]]
        for _ in 0..<2 {  // the second round reuses the caches
            let scores = try scorer.score(context: context, continuations: continuations)
            for (c, s) in zip(continuations, scores) { #expect(abs(s - naive(d, context, c)) < 1e-4, "\(c)") }
        }
    }

    /// The caches grow with the items (256 positions, then doubling): a long context after short
    /// ones scores as a plain forward pass does, and a model's long context costs nothing up front.
    @Test func cachesGrowWithTheItems() throws {
        let d = model(context: 1024)
        let scorer = LogLikelihood(decoder: d)
        let short: [Int32] = [1, 5, 9], long = (0..<600).map { Int32(1 + $0 % 39) }, cont: [[Int32]] = [[3, 4], [5]]
        for context in [short, long, short] {
            let scores = try scorer.score(context: context, continuations: cont)
            for (c, s) in zip(cont, scores) { #expect(abs(s - naive(d, context, c)) < 1e-3, "\(context.count) + \(c)") }
        }
    }

    /// Truncation: left keeps every continuation token, dropping context from the left; right
    /// scores only what fits in the window.
    @Test func truncationPolicies() throws {
        let d = model(context: 12)
        let context: [Int32] = Array(1...10).map(Int32.init), cont: [[Int32]] = [[20, 21, 22, 23], [24]]
        let left = try LogLikelihood(decoder: d, truncation: .left).score(context: context, continuations: cont)
        #expect(abs(left[0] - naive(d, Array(context.suffix(9)), cont[0])) < 1e-4, "12 positions: 9 of context, 4 - 1 of continuation")
        let right = try LogLikelihood(decoder: d, truncation: .right).score(context: context, continuations: cont)
        #expect(abs(right[0] - naive(d, context, [20, 21])) < 1e-4)
        #expect(abs(right[1] - naive(d, context, [24])) < 1e-4)
        let full = try LogLikelihood(decoder: d, truncation: .right).score(context: Array(1...12).map(Int32.init), continuations: cont)
        #expect(full == [0, 0], "no room left: nothing is scored")
    }

    @Test func resultJSONContractAndDeterminism() throws {
        let tokenizer = try SentencePieceTokenizer(path: TestPaths.root + "/tokenizers/toyworld.model")
        var config = model().config
        config.vocabSize = tokenizer.vocabularySize
        config.maxPositionEmbeddings = 256
        let d = DecoderModel(config: config)
        d.initialize(seed: 3)
        let suite = try SuiteLoader.load(TestPaths.fixture("mmlu_tiny"))
        let evaluator = Evaluator(decoder: d, tokenizer: tokenizer)
        let result = try evaluator.run(suite, options: EvalOptions(mode: .letter), modelName: "m")
        #expect(try result == Evaluator(decoder: d, tokenizer: tokenizer).run(suite, options: EvalOptions(mode: .letter), modelName: "m")
                .with(seconds: result.seconds, qps: result.questionsPerSecond))
        let json = try JSONSerialization.jsonObject(with: result.json()) as! [String: Any]
        #expect(Set(json.keys).isSuperset(of: ["model", "suite", "mode", "shots", "overall", "macro_acc", "subjects"]))
        #expect((json["overall"] as! [String: Any])["n"] as? Int == 3 && json["shots"] as? Int == 5)
        #expect((json["overall"] as! [String: Any])["acc_norm"] == nil, "letter mode has no acc_norm")
        let c = try evaluator.run(suite, options: EvalOptions(mode: .continuation), modelName: "m")
        #expect(c.overall.accNorm != nil && c.subjects["toy_facts"]?.n == 2)
        #expect(abs(c.macroAcc - (c.subjects["toy_facts"]!.acc + c.subjects["second_subject"]!.acc) / 2) < 1e-12)
    }

    @Test func forgettingComparison() throws {
        let before = EvalResult(model: "a", suite: "s", mode: .continuation, shots: 0, overall: Score(acc: 0.6, accNorm: 0.7, n: 10), macroAcc: 0.6,
                                subjects: ["x": Score(acc: 0.5, accNorm: 0.6, n: 4), "y": Score(acc: 0.7, accNorm: 0.8, n: 6)])
        let after = EvalResult(model: "b", suite: "s", mode: .continuation, shots: 0, overall: Score(acc: 0.5, accNorm: 0.7, n: 10), macroAcc: 0.5,
                               subjects: ["x": Score(acc: 0.25, accNorm: 0.5, n: 4), "y": Score(acc: 0.7, accNorm: 0.9, n: 6)])
        let r = try ForgettingReport.compare(before: before, after: after, beforeName: "base", afterName: "tuned")
        #expect(r.subjects.map(\.subject) == ["x", "y"])
        #expect(abs(r.subjects[0].delta + 0.25) < 1e-12 && abs(r.overall.delta + 0.1) < 1e-12 && abs(r.subjects[1].deltaNorm! - 0.1) < 1e-12)
        #expect(r.markdown().contains("| **overall** | 10 | 0.6000 | 0.5000 | **-0.1000** |"))
        var other = after
        other.subjects["z"] = Score(acc: 1, accNorm: nil, n: 1)
        #expect(throws: EvalError.self) { try ForgettingReport.compare(before: before, after: other, beforeName: "a", afterName: "b") }
        // A result from before acc_norm per character (no acc_bytes) is compared per byte, as both have it.
        var perByte = after
        perByte.overall = Score(acc: 0.5, accNorm: 0.75, accBytes: 0.65, n: 10)
        perByte.subjects = after.subjects.mapValues { Score(acc: $0.acc, accNorm: 0.1, accBytes: $0.accNorm, n: $0.n) }
        let mixed = try ForgettingReport.compare(before: before, after: perByte, beforeName: "old", afterName: "new")
        #expect(mixed.normPerByte && abs(mixed.overall.deltaNorm! + 0.05) < 1e-12 && abs(mixed.subjects[1].deltaNorm! - 0.1) < 1e-12)
        #expect(mixed.markdown().contains("Δ acc_bytes") && !r.normPerByte)
    }

    /// evals/toyworld is exactly what the generator writes for the quickstart's world.
    @Test func committedKnowledgeSuitesMatchTheGenerator() throws {
        let dir = TestPaths.temporaryDirectory("knowledge")
        try ToyWorld().writeKnowledgeSuites(to: dir)
        for lang in ToyWorld.languages {
            let generated = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(lang).jsonl"))
            let committed = try Data(contentsOf: URL(fileURLWithPath: "\(TestPaths.root)/evals/toyworld/\(lang).jsonl"))
            #expect(generated == committed, "evals/toyworld/\(lang).jsonl is stale: run mllm-cl data knowledge-suite --out evals/toyworld")
            let suite = try SuiteLoader.load("\(dir)/\(lang).jsonl")
            #expect(suite.itemCount == 48 * 4 && suite.subjects.map(\.name) == ["city", "color", "food", "kind"])
        }
    }
}

/// evals/toyworld-mm (questions and PNGs) is exactly what the scene generator writes.
struct CommittedSceneSuiteTests {
    @Test func committedSceneSuiteMatchesTheGenerator() throws {
        let dir = TestPaths.temporaryDirectory("scenesuite")
        try ToyScenes(seed: 1011, count: 48).writeSuite(to: dir, range: 0..<48)
        let committed = TestPaths.root + "/evals/toyworld-mm"
        for lang in ToyScenes.languages {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(lang).jsonl"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(committed)/\(lang).jsonl"))
            #expect(a == b, "evals/toyworld-mm/\(lang).jsonl is stale: run scripts/make-evals.sh")
        }
        for i in [0, 17, 47] {
            let name = ToyScenes.imageName(i)
            let decoded = try ImageDecoder.decode(path: committed + "/" + name)
            #expect(decoded == ToyScenes(seed: 1011, count: 48).render(i), "\(name)")
        }
        let suite = try SuiteLoader.load(committed + "/zh.jsonl")
        #expect(suite.isMultimodal && suite.itemCount == 192 && suite.subjects.count == 4)
    }
}

extension EvalResult {
    func with(seconds: Double?, qps: Double?) -> EvalResult {
        var r = self
        r.seconds = seconds
        r.questionsPerSecond = qps
        return r
    }
}
