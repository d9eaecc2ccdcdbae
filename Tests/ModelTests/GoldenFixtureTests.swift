import Foundation
import Model
import SafeTensors
import Tensor
import TestSupport
import Testing
import Train

/// The llm.c `test_gpt2` idea: a tiny decoder written by scripts/fixtures/make_decoder_fixtures.py
/// (NumPy, float64, gradients by central differences) must give the same logits, loss, every
/// gradient, and the losses and weights of 5 AdamW steps.
struct GoldenFixtureTests {
    struct Batch: Decodable {
        struct Adam: Decodable { let lr, beta1, beta2, eps, weight_decay: Float; let steps: Int }
        let tokens, targets, attention_mask: [[Int32]]
        let adamw: Adam
    }

    /// max |a − b| / max(max |b|, 1e-3) over a tensor.
    func relativeMaxError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = max(b.map(abs).max() ?? 0, 1e-3)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    @Test(arguments: ["decoder_qwen2_gqa", "decoder_llama_tied"])
    func matchesNumPyReference(fixture: String) throws {
        let dir = TestPaths.fixture(fixture)
        let batch = try JSONDecoder().decode(Batch.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/batch.json")))
        let reference = try SafeTensorsFile(path: dir + "/reference.safetensors")
        let decoder = try ModelDirectory.loadDecoder(dir)
        decoder.parameters.setTrainable(matching: ["*"])
        let B = batch.tokens.count, T = batch.tokens[0].count
        let acts = DecoderActivations(config: decoder.config, batch: B, sequence: T)
        acts.setBatch(tokens: batch.tokens.flatMap { $0 }, targets: batch.targets.flatMap { $0 },
                      attentionMask: batch.attention_mask.flatMap { $0 })

        decoder.parameters.zeroGradients()
        decoder.forward(acts)
        #expect(relativeMaxError(acts.logits.array, try reference.floats("logits")) < 1e-5, "logits")
        let loss = decoder.loss(acts).loss
        #expect(abs(loss - (try reference.floats("loss"))[0]) < 1e-5, "loss \(loss)")
        decoder.backward(acts)
        for (i, p) in decoder.parameters.table.enumerated() {
            let e = relativeMaxError(decoder.parameters.gradient(at: i)!.array, try reference.floats("grad." + p.name))
            #expect(e < 1e-4, "gradient of \(p.name): relative error \(e)")
        }

        let a = batch.adamw
        let optimizer = AdamW(parameters: decoder.parameters,
                              config: AdamWConfig(beta1: a.beta1, beta2: a.beta2, eps: a.eps, weightDecay: a.weight_decay))
        let expected = try reference.floats("adamw.losses")
        var losses: [Float] = []
        for _ in 0..<a.steps {
            decoder.parameters.zeroGradients()
            decoder.forward(acts)
            losses.append(decoder.loss(acts).loss)
            decoder.backward(acts)
            optimizer.update(lr: a.lr)
        }
        for (got, want) in zip(losses, expected) { #expect(abs(got - want) < 1e-5, "AdamW losses \(losses) vs \(expected)") }
        for (i, p) in decoder.parameters.table.enumerated() {
            let e = relativeMaxError(decoder.parameters.value(at: i).array, try reference.floats("adamw.final." + p.name))
            #expect(e < 1e-4, "\(p.name) after \(a.steps) AdamW steps: relative error \(e)")
        }
    }
}
