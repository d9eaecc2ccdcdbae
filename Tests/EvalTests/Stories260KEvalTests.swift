import Eval
import Foundation
import Model
import TestSupport
import Testing
import Tokenizer

/// The real model on the real cloze suite (../shared): stories260K, converted, scored by
/// continuation log-likelihood. The NumPy reference (../shared/tools/ref_stories260k.py) gets
/// acc 0.366 and acc_norm 0.524 (log-likelihood per character, as lm-evaluation-harness); it keeps the first 512 tokens of context + continuation, which
/// is `--truncation right` here. lm-evaluation-harness drops context from the left instead
/// (this project's default), which scores the 41 over-long choices and lands higher.
@Suite(.enabled(if: TestPaths.sharedAvailable, "../shared absent: skipping the stories260K cloze evaluation"))
struct Stories260KEvalTests {
    @Test func clozeMatchesTheNumPyReference() throws {
        let source = TestPaths.shared + "/models/stories260K"
        let out = TestPaths.temporaryDirectory("cloze")
        let decoder = try Llama2cImporter.convert(model: source + "/stories260K.bin", tokenizer: source + "/tok512.model", output: out)
        let tokenizer = try SentencePieceTokenizer(path: out + "/tokenizer.model")
        let suite = try SuiteLoader.load(TestPaths.shared + "/data/tinystories/cloze")
        #expect(suite.itemCount == 145)

        let reference = try Evaluator(decoder: decoder, tokenizer: tokenizer, truncation: .right)
            .run(suite, options: EvalOptions(mode: .continuation, truncation: .right), modelName: out)
        #expect(abs(reference.overall.acc - 0.366) <= 0.02, "acc \(reference.overall.acc)")
        #expect(abs(reference.overall.accNorm! - 0.524) <= 0.001, "acc_norm \(reference.overall.accNorm!)")
        // Per UTF-8 byte instead: 6 choices hold non-ASCII characters, and one more item goes right.
        #expect(reference.overall.accBytes! != reference.overall.accNorm!, "acc_bytes \(reference.overall.accBytes!)")

        let harness = try Evaluator(decoder: decoder, tokenizer: tokenizer).run(suite, options: EvalOptions(mode: .continuation), modelName: out)
        #expect(harness.overall.accNorm! > 0.45 && harness.overall.acc > 0.3, "well above chance (0.25)")

        // bfloat16 weights: the same scores within 0.01.
        let half = try Evaluator(directory: out, languageModelOnly: true, truncation: .right, precision: .bf16)
            .run(suite, options: EvalOptions(mode: .continuation, truncation: .right), modelName: out)
        #expect(abs(half.overall.accNorm! - reference.overall.accNorm!) <= 0.01, "bf16 acc_norm \(half.overall.accNorm!) vs \(reference.overall.accNorm!)")
        #expect(abs(half.overall.acc - reference.overall.acc) <= 0.01, "bf16 acc \(half.overall.acc) vs \(reference.overall.acc)")
    }

    /// bfloat16 weights move stories260K's logits little along a 64-token decode: by 1e-2 on
    /// average, by at most 1% of the largest logit; next-token probabilities by at most 0.02.
    @Test func bfloat16LogitsStayClose() throws {
        let source = TestPaths.shared + "/models/stories260K"
        let out = TestPaths.temporaryDirectory("bf16")
        _ = try Llama2cImporter.convert(model: source + "/stories260K.bin", tokenizer: source + "/tok512.model", output: out)
        let full = try LoadedModel(directory: out).decoder, half = try LoadedModel(directory: out, precision: .bf16).decoder
        #expect(full.inferencePrecision == .f32 && half.inferencePrecision == .bf16)
        let ids: [Int32] = [1] + (0..<63).map { Int32(($0 * 37 + 11) % 512) }
        let a = try full.makeCache(batch: 1, capacity: 64), b = try half.makeCache(batch: 1, capacity: 64)
        var worst: Float = 0, largest: Float = 0, total: Double = 0, probability: Double = 0
        for id in ids {
            let x = full.forward(newTokens: [id], cache: a).array, y = half.forward(newTokens: [id], cache: b).array
            worst = max(worst, zip(x, y).map { abs($0 - $1) }.max()!)
            largest = max(largest, x.map { abs($0) }.max()!)
            total += zip(x, y).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) }
            let p = softmax(x), q = softmax(y)
            probability = max(probability, zip(p, q).map { abs($0 - $1) }.max()!)
        }
        print("stories260K bf16 vs f32 over 64 positions: logits max |diff| \(worst) (largest |logit| \(largest)), mean |diff| \(total / Double(64 * 512)), probabilities max |diff| \(probability)")
        // bfloat16 keeps 8 bits of mantissa (relative error up to 2^-9 a weight): the logits move by
        // about 1e-2 on average and at most about 0.6% of the largest logit (0.1 of 17).
        #expect(worst <= 1e-2 * largest, "bf16 logits differ by \(worst), largest logit \(largest)")
        #expect(total / Double(64 * 512) <= 2e-2 && probability <= 2e-2)
    }

    func softmax(_ x: [Float]) -> [Double] {
        let m = Double(x.max()!), e = x.map { exp(Double($0) - m) }, z = e.reduce(0, +)
        return e.map { $0 / z }
    }
}
