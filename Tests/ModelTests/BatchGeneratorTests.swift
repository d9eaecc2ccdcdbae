import Data
import Foundation
import Infer
import Model
import TestSupport
import Testing
import Tokenizer

struct BatchGeneratorTests {
    let tokenizer = try! SentencePieceTokenizer(path: TestPaths.root + "/tokenizers/toyworld.model")

    func multimodal() -> MultimodalModel {
        let text = DecoderConfig(modelType: "qwen2", hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
                                 intermediateSize: 24, vocabSize: 521, maxPositionEmbeddings: 96)
        let vision = VisionConfig(hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, imageSize: 16, patchSize: 8)
        let m = MultimodalModel(config: MultimodalConfig(textConfig: text, visionConfig: vision, imageTokenIndex: Int(tokenizer.id(of: "<image>")!)))
        m.decoder.initialize(seed: 1, std: 0.5)
        m.encoder.initialize(seed: 2, std: 0.5)
        m.projector.initialize(seed: 3, std: 0.5)
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
