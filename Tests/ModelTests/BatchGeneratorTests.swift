import Data
import Foundation
import Infer
import Model
import TestSupport
import Tensor
import Testing
import Tokenizer

struct BatchGeneratorTests {
    let tokenizer = try! SentencePieceTokenizer(path: TestPaths.root + "/tokenizers/toyworld.model")

    /// `lora`: with LoRA on every projection, its B drawn too (a trained adapter, not a fresh one).
    func multimodal(lora: Bool = false) -> MultimodalModel {
        let text = DecoderConfig(modelType: "qwen2", hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
                                 intermediateSize: 24, vocabSize: 521, maxPositionEmbeddings: 96)
        let vision = VisionConfig(hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, imageSize: 16, patchSize: 8)
        var m = MultimodalModel(config: MultimodalConfig(textConfig: text, visionConfig: vision, imageTokenIndex: Int(tokenizer.id(of: "<image>")!)))
        m.decoder.initialize(seed: 1, std: 0.5)
        m.encoder.initialize(seed: 2, std: 0.5)
        m.projector.initialize(seed: 3, std: 0.5)
        guard lora else { return m }
        m = m.attaching(LoRAConfig(rank: 2, alpha: 4, targetModules: Projection.allCases), seed: 4)
        var rng = SeededGenerator(seed: 5)
        for (i, p) in m.decoder.parameters.table.enumerated() where p.name.hasSuffix("lora_B.weight") {
            let b = m.decoder.parameters.value(at: i)
            for j in 0..<b.count { b[j] = rng.normal() * 0.3 }
        }
        return m
    }

    /// Left padding with masked keys changes nothing: a batch of prompts of different lengths
    /// (with and without images) completes exactly as each prompt alone.
    @Test(arguments: [Float(0), Float(0.9)])
    func batchedEqualsOneByOne(temperature: Float) throws {
        let dir = TestPaths.temporaryDirectory("infer")
        let scenes = ToyScenes(seed: 2, count: 2)
        try scenes.write(to: dir)
        let m = multimodal()
        let requests = [InferRequest(id: "a", prompt: "What color are the shapes?", image: dir + "/" + ToyScenes.imageName(0)),
                        InferRequest(id: "b", prompt: "Rubok lives in"),
                        InferRequest(id: "c", prompt: "Where are the shapes? Answer briefly.", image: dir + "/" + ToyScenes.imageName(1))]
        let generator = BatchGenerator(model: .multimodal(m), tokenizer: tokenizer, template: ChatFormat(.chatml),
                                       options: SamplingOptions(temperature: temperature, topK: 20), maxNewTokens: 12,
                                       stopTokens: StopTokens.of(tokenizer: tokenizer, config: m.decoder.config, generation: nil))
        var together: [String: InferResult] = [:]
        try generator.generate(requests, seeds: [7, 8, 9]) { together[$0.id] = $0 }
        for (r, seed) in zip(requests, [UInt64(7), 8, 9]) {
            var alone: InferResult?
            try generator.generate([r], seeds: [seed]) { alone = $0 }
            #expect(alone == together[r.id], "\(r.id): \(String(describing: alone)) vs \(String(describing: together[r.id]))")
        }
        #expect(together.values.allSatisfy { $0.tokens > 0 && [FinishReason.stop, .length].contains($0.finishReason) })
    }

    /// Continuous batching: six requests (two with images, one too long for the context) through
    /// two slots, each finished sequence handing its slot to the next request; every result is
    /// the one the request gets alone, and the bad one is reported by index while the rest go on.
    /// With LoRA attached too (row-independent: it refills as a plain decoder does).
    @Test(arguments: [(Float(0), false), (Float(0.9), false), (Float(0.9), true)])
    func refilledSlotsEqualOneByOne(temperature: Float, lora: Bool) throws {
        let dir = TestPaths.temporaryDirectory("stream")
        let scenes = ToyScenes(seed: 3, count: 2)
        try scenes.write(to: dir)
        let m = multimodal(lora: lora)
        #expect(m.decoder.adapters.count == (lora ? 1 : 0))
        let long = Array(repeating: "Rubok lives in Velora.", count: 40).joined(separator: " ")
        let requests = [InferRequest(id: "a", prompt: "Rubok lives in"),
                        InferRequest(id: "b", prompt: "What color are the shapes?", image: dir + "/" + ToyScenes.imageName(0)),
                        InferRequest(id: "c", prompt: long),
                        InferRequest(id: "d", prompt: "Nopak is a"),
                        InferRequest(id: "e", prompt: "Where are the shapes? Answer briefly.", image: dir + "/" + ToyScenes.imageName(1)),
                        InferRequest(id: "f", prompt: "The favourite food of Rubok is")]
        let seeds: [UInt64] = [3, 4, 5, 6, 7, 8]
        for maxNewTokens in [5, 16] {
            let generator = BatchGenerator(model: .multimodal(m), tokenizer: tokenizer, template: ChatFormat(.chatml),
                                           options: SamplingOptions(temperature: temperature, topK: 20), maxNewTokens: maxNewTokens,
                                           stopTokens: StopTokens.of(tokenizer: tokenizer, config: m.decoder.config, generation: nil))
            #expect(generator.refillsSlots)
            var streamed: [String: InferResult] = [:], order: [String] = [], failures: [Int] = []
            try generator.generate(stream: requests, seeds: seeds, slots: 2, onFinish: { streamed[$0.id] = $0; order.append($0.id) },
                                   onFailure: { i, _ in failures.append(i) })
            #expect(failures == [2], "the over-long prompt fails alone")
            for (r, seed) in zip(requests, seeds) where r.id != "c" {
                var alone: InferResult?
                try generator.generate([r], seeds: [seed]) { alone = $0 }
                #expect(alone == streamed[r.id], "\(r.id), \(maxNewTokens) tokens: \(String(describing: alone)) vs \(String(describing: streamed[r.id]))")
            }
            #expect(order.count == 5)
        }
    }
}

/// Decode steps with each sequence at its own position: the logits of a batch whose sequences
/// started at different times (one refilled mid-way) are those of each sequence run alone.
struct SequenceStepTests {
    @Test func stepsAtOwnPositionsEqualEachSequenceAlone() throws {
        let config = DecoderConfig(modelType: "qwen2", hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
                                   intermediateSize: 24, vocabSize: 40, maxPositionEmbeddings: 32)
        let d = DecoderModel(config: config)
        d.initialize(seed: 9, std: 0.4)
        let V = config.vocabSize
        func alone(_ ids: [Int32]) throws -> [[Float]] {
            let cache = try d.makeCache(batch: 1, capacity: ids.count)
            return ids.map { d.forward(newTokens: [$0], cache: cache).array }
        }
        let a: [Int32] = [1, 5, 9, 2, 7, 7, 3, 11], b: [Int32] = [1, 4, 4], c: [Int32] = [1, 8, 30, 31]
        let (ra, rb, rc) = (try alone(a), try alone(b), try alone(c))
        // Slot 0 runs a (its first two tokens prefilled, then stepped); slot 1 runs b, then c.
        let batch = try d.makeCache(batch: 2, capacity: 16, chunk: 1)
        let entry = try d.makeCache(batch: 1, capacity: 8)
        _ = d.prefill(Array(a[..<2]), rowsPerSequence: 2, cache: entry)
        batch.adopt(sequence: 0, from: entry)
        var worst: Float = 0
        for t in 0..<6 {
            let second: Int32, expected: [Float]
            if t < 3 { second = b[t]; expected = rb[t] } else {
                if t == 3 { batch.resetSequence(1) }
                second = c[t - 3]; expected = rc[t - 3]
            }
            let logits = d.step([a[t + 2], second], cache: batch).array
            worst = max(worst, zip(logits[..<V], ra[t + 2]).map { abs($0 - $1) }.max()!, zip(logits[V...], expected).map { abs($0 - $1) }.max()!)
        }
        #expect(batch.lengths == [8, 3])
        #expect(worst < 1e-5, "logits differ by \(worst)")
    }
}

/// `infer` on hostile input: one request too long for the context costs only itself (its batch
/// is retried one by one), and a partial last line in the output (a write cut short) is removed
/// before appending, so records never glue together.
struct InferJobRobustnessTests {
    let dir = TestPaths.temporaryDirectory("infer")

    func job(_ input: String, output: String, warnings: @escaping (String) -> Void = { _ in }) -> InferJob {
        var o = InferJob.Options(model: TestPaths.fixture("hf/qwen2-tiny"), input: input, output: output)
        o.maxNewTokens = 3
        o.batchSize = 4
        o.framing = .none
        return InferJob(o, warn: warnings)
    }

    @Test func aBadRequestDoesNotCostItsBatch() throws {
        let long = Array(repeating: "Rubok lives in Velora.", count: 200).joined(separator: " ")
        let lines = [#"{"id": "a", "prompt": "Rubok lives in"}"#, "{\"id\": \"long\", \"prompt\": \"\(long)\"}", #"{"id": "b", "prompt": "Nopak is"}"#]
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        var warnings: [String] = []
        let report = try job(dir + "/in.jsonl", output: dir + "/out.jsonl") { warnings.append($0) }.run()
        #expect(report.written == 2 && report.bad == 1)
        #expect(warnings.contains { $0.hasPrefix(dir + "/in.jsonl:2 (id \"long\"): ") && $0.contains("context") }, "\(warnings)")
        let ids = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8).split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["id"] as! String
        }
        #expect(Set(ids) == ["a", "b"])
    }

    @Test func aPartialLastLineIsRemovedBeforeAppending() throws {
        try #"{"id": "a", "prompt": "Rubok lives in"}"#.write(toFile: dir + "/in.jsonl", atomically: true, encoding: .utf8)
        try "{\"finish_reason\":\"length\",\"id\":\"z\",\"output\":\"x\",\"tokens\":1}\n{\"finish_reason\":\"len".write(toFile: dir + "/out.jsonl", atomically: true, encoding: .utf8)
        var warnings: [String] = []
        let report = try job(dir + "/in.jsonl", output: dir + "/out.jsonl") { warnings.append($0) }.run()
        #expect(report.written == 1 && warnings.contains { $0.contains("removed a partial last line") })
        let records = try String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(records.count == 2)
        for r in records { #expect((try? JSONSerialization.jsonObject(with: Data(r.utf8))) != nil, "\(r)") }
    }
}
