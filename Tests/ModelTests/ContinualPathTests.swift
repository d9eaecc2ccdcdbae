import Foundation
import Model
import Tensor
import TestSupport
import Testing

/// The decoder paths the continual-learning strategies use: the distillation teacher (a snapshot
/// sharing frozen weights), the KL loss backpropagated through the decoder, the gradient with
/// respect to one layer's input, and training on a forward rerun from a shifted layer input.
struct ContinualPathTests {
    static let plain = DecoderConfig(modelType: "qwen2", hiddenSize: 8, numHiddenLayers: 3, numAttentionHeads: 4, numKeyValueHeads: 2,
                                     intermediateSize: 12, vocabSize: 11, ropeTheta: 50, maxPositionEmbeddings: 16)
    static let configs: [(String, DecoderConfig)] = [("qwen2 GQA", plain), ("with Wings learners", WingsTests.config)]
    /// Central-difference step: three layers deep, the first layer's input curves enough that
    /// ε = 1e-2 leaves a truncation error of about 2% there (measured: it falls as ε²), while the
    /// learners' small gradients lose precision to float32 rounding as ε shrinks; 5e-3 balances both.
    static let eps: Float = 5e-3

    static func randomDecoder(_ config: DecoderConfig, seed: UInt64) -> DecoderModel {
        randomize(DecoderModel(config: config), seed: seed)
    }

    /// `decoder` with seeded random weights: norms near 1, everything else N(0, 0.4²).
    static func randomize(_ decoder: DecoderModel, seed: UInt64) -> DecoderModel {
        var rng = SeededGenerator(seed: seed)
        for i in 0..<decoder.parameters.table.count {
            let t = decoder.parameters.value(at: i)
            let isNorm = decoder.parameters.table[i].name.hasSuffix("norm.weight")
            for j in 0..<t.count { t[j] = isNorm ? 1 + 0.3 * rng.normal() : 0.4 * rng.normal() }
        }
        return decoder
    }

    static func textBatch(_ acts: DecoderActivations, vocabulary V: Int, rng: inout SeededGenerator) {
        let N = acts.batch * acts.sequence
        let tokens = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        var targets = (0..<N).map { _ in Int32(rng.next() % UInt64(V)) }
        var mask = [Int32](repeating: 1, count: N)
        mask[N - 1] = 0; targets[N - 1] = -100; targets[0] = -100
        acts.setBatch(tokens: tokens, targets: targets, attentionMask: mask)
    }

    /// The teacher shares every frozen tensor's memory, copies the trainable ones, and keeps the
    /// stage's starting values while the student changes.
    @Test func snapshotSharesFrozenTensorsAndCopiesTrainableOnes() {
        let student = Self.randomDecoder(Self.plain, seed: 1)
        student.parameters.setTrainable(matching: ["model.layers.1.*"])
        let teacher = student.snapshot()
        for (i, p) in student.parameters.table.enumerated() {
            let shared = teacher.parameters.value(at: i).data == student.parameters.value(at: i).data
            #expect(shared == !p.name.hasPrefix("model.layers.1."), "\(p.name)")
            #expect(teacher.parameters.value(at: i).array == student.parameters.value(at: i).array)
        }
        let trainable = student.parameters.table.filter { $0.name.hasPrefix("model.layers.1.") }.reduce(0) { $0 + $1.count }
        #expect(teacher.parameters.values.capacity == Arena.capacity(for: student.parameters.trainableIndices.map { student.parameters.table[$0].shape }))
        #expect(teacher.parameters.values.capacity < student.parameters.count && trainable > 0)
        let name = "model.layers.1.mlp.up_proj.weight", start = student.parameters.value(name)[0]
        student.parameters.value(name)[0] = start + 1
        #expect(teacher.parameters.value(name)[0] == start, "the teacher keeps the stage's starting value")
        #expect(teacher.parameters.gradients == nil, "nothing in a teacher trains")
    }

    /// Loss = τ²·KL(teacher ‖ decoder) through `backward(logitGradient:)`: the input embeddings
    /// and every parameter against central differences.
    @Test(arguments: 0..<2) func distillationGradients(which: Int) {
        let (label, config) = Self.configs[which]
        let student = Self.randomDecoder(config, seed: 21)
        let teacher = Self.randomDecoder(config, seed: 22)
        student.parameters.setTrainable(matching: ["*"])
        var rng = SeededGenerator(seed: 5)
        let B = 2, T = 5, tau: Float = 2
        let acts = DecoderActivations(config: config, batch: B, sequence: T)
        let teacherActs = DecoderActivations(config: config, batch: B, sequence: T)
        Self.textBatch(acts, vocabulary: config.vocabSize, rng: &rng)
        teacherActs.tokens.update(from: acts.tokens, count: B * T)
        teacherActs.attentionMask.update(from: acts.attentionMask, count: B * T)
        teacher.forward(teacherActs)
        let s = TestTensors()
        let losses = s.zeros([B * T])
        let loss = { () -> Double in
            student.forwardLayers(acts)
            return Double(KLDivergence.forward(losses: losses, student: acts.logits, teacher: teacherActs.logits,
                                               targets: acts.targets, temperature: tau).loss)
        }
        student.parameters.zeroGradients()
        student.embed(acts)
        let (kl, count) = { _ = loss(); return KLDivergence.forward(losses: losses, student: acts.logits, teacher: teacherActs.logits, targets: acts.targets, temperature: tau) }()
        #expect(kl > 0 && count == B * T - 2)
        KLDivergence.backward(studentToGradient: acts.logits, teacher: teacherActs.logits, targets: acts.targets, temperature: tau, scale: 1 / Float(count))
        student.backward(logitGradient: acts)
        let inputGradient = s.zeros(acts.inputGradient.shape)
        inputGradient.copy(from: acts.inputGradient)
        student.embed(acts)
        let e = GradientCheck.relativeError(of: acts.embeddings, analytic: inputGradient, eps: Self.eps, loss: loss)
        #expect(e < 1e-2, "\(label): input embeddings relative error \(e)")
        for (i, p) in student.parameters.table.enumerated() {
            let e = GradientCheck.relativeError(of: student.parameters.value(at: i), analytic: student.parameters.gradient(at: i)!,
                                                eps: Self.eps, maxElements: 40) {
                student.embed(acts)
                return loss()
            }
            #expect(e < 1e-2, "\(label): \(p.name) relative error \(e)")
        }
    }

    /// `backward(logitGradient:downTo:parameterGradients: false)` gives d loss / d z_l (the input
    /// of layer l, for every l) and leaves every parameter gradient untouched.
    @Test(arguments: 0..<2) func layerInputGradient(which: Int) {
        let (label, config) = Self.configs[which]
        let decoder = Self.randomDecoder(config, seed: 31)
        decoder.parameters.setTrainable(matching: ["*"])
        var rng = SeededGenerator(seed: 6)
        let acts = DecoderActivations(config: config, batch: 2, sequence: 5)
        Self.textBatch(acts, vocabulary: config.vocabSize, rng: &rng)
        let s = TestTensors()
        for l in 0..<config.numHiddenLayers {
            decoder.parameters.gradients!.all.copy(from: s.make([decoder.parameters.gradients!.all.count]))
            let before = decoder.parameters.gradients!.all.array
            decoder.forward(acts)
            _ = decoder.loss(acts)
            CrossEntropy.backward(logitsToGradient: acts.logits, targets: acts.targets, scale: 1 / Float(2 * 5 - 2))
            decoder.backward(logitGradient: acts, downTo: l, parameterGradients: false)
            #expect(decoder.parameters.gradients!.all.array == before, "\(label): layer \(l): parameter gradients untouched")
            let dz = s.zeros(acts.residualGradient.shape)
            dz.copy(from: acts.residualGradient)
            let z = decoder.residualInput(acts, layer: l)
            let e = GradientCheck.relativeError(of: z, analytic: dz, eps: Self.eps) {
                decoder.forwardLayers(acts, from: l)
                return Double(decoder.loss(acts).loss)
            }
            #expect(e < 1e-2, "\(label): d loss / d z_\(l): relative error \(e)")
        }
    }

    /// The augmented step: z_l shifted by a fixed δ, layers l… rerun, then the full backward. Its
    /// parameter gradients equal central differences of θ ↦ ℓ(F_l(z_l(θ) + δ)), for every layer.
    @Test(arguments: 0..<2) func augmentedForwardGradients(which: Int) {
        let (label, config) = Self.configs[which]
        let decoder = Self.randomDecoder(config, seed: 41)
        decoder.parameters.setTrainable(matching: ["*"])
        var rng = SeededGenerator(seed: 7)
        let acts = DecoderActivations(config: config, batch: 2, sequence: 5)
        Self.textBatch(acts, vocabulary: config.vocabSize, rng: &rng)
        let s = TestTensors(seed: 8)
        let C = config.hiddenSize
        for l in 0..<config.numHiddenLayers {
            let delta = s.make([2 * 5, C], scale: 0.1)
            let augmented = { () -> Double in
                decoder.forward(acts)
                let z = decoder.residualInput(acts, layer: l)
                Elementwise.add(z, z, delta)
                decoder.forwardLayers(acts, from: l)
                return Double(decoder.loss(acts).loss)
            }
            decoder.parameters.zeroGradients()
            _ = augmented()
            decoder.backward(acts)
            for (i, p) in decoder.parameters.table.enumerated() {
                let e = GradientCheck.relativeError(of: decoder.parameters.value(at: i), analytic: decoder.parameters.gradient(at: i)!,
                                                    eps: Self.eps, maxElements: 24, loss: augmented)
                #expect(e < 1e-2, "\(label): layer \(l): \(p.name) relative error \(e)")
            }
        }
    }
}
