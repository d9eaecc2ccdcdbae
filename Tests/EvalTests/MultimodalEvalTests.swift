import Data
import Eval
import Foundation
import Model
import Tensor
import TestSupport
import Testing
import Tokenizer

struct MultimodalEvalTests {
    let tokenizer = try! SentencePieceTokenizer(path: TestPaths.root + "/tokenizers/toyworld.model")

    func model() -> MultimodalModel {
        let text = DecoderConfig(hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 24, vocabSize: 521, maxPositionEmbeddings: 96)
        let vision = VisionConfig(hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, imageSize: 16, patchSize: 8)
        let m = MultimodalModel(config: MultimodalConfig(textConfig: text, visionConfig: vision, imageTokenIndex: Int(tokenizer.id(of: "<image>")!)))
        m.decoder.initialize(seed: 1, std: 0.2)
        m.encoder.initialize(seed: 2, std: 0.2)
        m.projector.initialize(seed: 3, std: 0.2)
        return m
    }

    /// Scoring with visual tokens injected into the cached prefix equals a plain multimodal forward
    /// pass over image + question + choice.
    @Test func imageScoringEqualsAFullForwardPass() throws {
        let dir = TestPaths.temporaryDirectory("mmeval")
        try ToyScenes(seed: 5, count: 2).writeSuite(to: dir, range: 0..<2)
        let suite = try SuiteLoader.load(dir + "/en.jsonl")
        #expect(suite.isMultimodal && suite.itemCount == 8)
        let m = model()
        let evaluator = Evaluator(model: m, tokenizer: tokenizer)
        let item = suite.subjects.first { $0.name == "color" }!.items[0]
        let (scores, labels) = try evaluator.imageLogLikelihoods(item, image: item.image!, mode: .continuation)
        #expect(labels == item.choices)

        let prompt = "<|im_start|>user\n<image>\n\(item.question)<|im_end|>\n<|im_start|>assistant\n"
        let promptTokens = tokenizer.encode(prompt)
        let image = Int32(m.config.imageTokenIndex)
        let context = [tokenizer.bosID!] + promptTokens.flatMap { $0 == image ? Array(repeating: image, count: m.imageTokens) : [$0] }
        for (choice, score) in zip(item.choices, scores) {
            let cont = Array(tokenizer.encode(prompt + choice).dropFirst(promptTokens.count))
            let ids = context + cont
            let acts = m.makeActivations(batch: 1, sequence: ids.count)
            acts.text.setBatch(tokens: ids, targets: ids)
            ImagePreprocessor.legacy(size: 16, mean: m.config.imageMean, std: m.config.imageStd)
                .process(try ImageDecoder.decode(path: item.image!), into: acts.vision.pixels.data)
            acts.resetImages()
            acts.assignImage(0, toSequence: 0, imageToken: image, visualTokens: m.imageTokens)
            acts.imageCount = 1
            m.forward(acts)
            let V = m.config.textConfig.vocabSize
            var expected = 0.0
            for (j, t) in cont.enumerated() {
                let row = (0..<V).map { Double(acts.text.logits[(context.count - 1 + j) * V + $0]) }
                let mx = row.max()!
                expected += row[Int(t)] - (mx + log(row.map { exp($0 - mx) }.reduce(0, +)))
            }
            #expect(abs(score - expected) < 1e-3, "\(choice): \(score) vs \(expected)")
        }
    }

    /// Negative counts from the command line are errors naming the option, not preconditions.
    @Test func negativeShotsAndLimitAreRefused() throws {
        let dir = TestPaths.temporaryDirectory("mmeval3")
        try ToyScenes(seed: 6, count: 1).writeSuite(to: dir, range: 0..<1, languages: ["en"])
        let suite = try SuiteLoader.load(dir + "/en.jsonl")
        for (options, expected) in [(EvalOptions(mode: .continuation, shots: -1), "--shots must be at least 0, got -1"),
                                    (EvalOptions(mode: .continuation, limit: 0), "--limit must be at least 1, got 0")] {
            var m = "no error"
            do { _ = try Evaluator(model: model(), tokenizer: tokenizer).run(suite, options: options, modelName: "m") } catch { m = "\(error)" }
            #expect(m.contains(expected), "\(m)")
        }
    }

    @Test func resultsPerLanguageAndCategory() throws {
        let dir = TestPaths.temporaryDirectory("mmeval2")
        try ToyScenes(seed: 6, count: 2).writeSuite(to: dir, range: 0..<2)
        let path = dir + "/all.jsonl"
        let all = try ToyScenes.languages.map { try String(contentsOfFile: "\(dir)/\($0).jsonl", encoding: .utf8) }.joined()
        try all.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try Evaluator(model: model(), tokenizer: tokenizer).run(try SuiteLoader.load(path), options: EvalOptions(mode: .continuation), modelName: "m")
        #expect(Set(result.languages!.keys) == Set(ToyScenes.languages) && result.languages!.values.allSatisfy { $0.n == 8 })
        #expect(Set(result.subjects.keys) == ["color", "shape", "count", "position"] && result.overall.n == 48)
        let json = try JSONSerialization.jsonObject(with: result.json()) as! [String: Any]
        #expect((json["languages"] as? [String: Any])?["zh"] != nil)
        do {
            _ = try Evaluator(decoder: model().decoder, tokenizer: tokenizer).run(try SuiteLoader.load(path), options: EvalOptions(mode: .continuation), modelName: "m")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("needs a multimodal model"))
        }
    }
}
