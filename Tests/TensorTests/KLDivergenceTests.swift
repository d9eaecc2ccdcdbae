import Foundation
import Tensor
import TestSupport
import Testing

/// Distillation's loss: a value worked out by hand, zero at agreement, and its gradient against
/// central differences at several temperatures with unscored rows.
struct KLDivergenceTests {
    /// Two classes, τ = 1: teacher logits (ln 3, 0) give p = (3/4, 1/4), student (0, 0) gives q = (1/2, 1/2):
    /// KL = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.130812. At τ = 2 the logits halve: p = (√3, 1)/(√3 + 1) and the loss is 4·KL.
    @Test func handWorkedValue() {
        let s = TestTensors()
        let student = s.zeros([1, 2]), teacher = s.zeros([1, 2]), losses = s.zeros([1])
        teacher.copy(from: [logf(3), 0])
        let targets: [Int32] = [5]
        let (loss, count) = KLDivergence.forward(losses: losses, student: student, teacher: teacher, targets: targets, temperature: 1)
        #expect(count == 1 && abs(loss - 0.130_812) < 1e-5)
        let p0 = 3.0.squareRoot() / (3.0.squareRoot() + 1), p1 = 1 - p0
        let expected = 4 * (p0 * log(p0 / 0.5) + p1 * log(p1 / 0.5))
        let (loss2, _) = KLDivergence.forward(losses: losses, student: student, teacher: teacher, targets: targets, temperature: 2)
        #expect(abs(Double(loss2) - expected) < 1e-5)
        // ∂/∂s = τ (q − p) = 2 · (0.5 − p0, 0.5 − p1)
        KLDivergence.backward(studentToGradient: student, teacher: teacher, targets: targets, temperature: 2, scale: 1)
        #expect(abs(Double(student[0]) - 2 * (0.5 - p0)) < 1e-6 && abs(Double(student[1]) - 2 * (0.5 - p1)) < 1e-6)
    }

    @Test func zeroWhenTheStudentAgrees() {
        let s = TestTensors(seed: 3)
        let student = s.make([3, 7], scale: 2), teacher = s.zeros([3, 7]), losses = s.zeros([3])
        teacher.copy(from: student)
        let targets: [Int32] = [1, 2, 3]
        let (loss, _) = KLDivergence.forward(losses: losses, student: student, teacher: teacher, targets: targets, temperature: 1.5)
        #expect(abs(loss) < 1e-6)
        KLDivergence.backward(studentToGradient: student, teacher: teacher, targets: targets, temperature: 1.5, scale: 1)
        #expect(student.array.allSatisfy { abs($0) < 1e-6 })
    }

    @Test(arguments: [Float(1), 2, 4]) func gradientMatchesFiniteDifferences(tau: Float) {
        let s = TestTensors(seed: 9)
        let N = 5, V = 6
        let student = s.make([N, V], scale: 2), teacher = s.make([N, V], scale: 2), losses = s.zeros([N])
        let targets: [Int32] = [0, -100, 3, 2, -100]
        let loss = { () -> Double in
            Double(KLDivergence.forward(losses: losses, student: student, teacher: teacher, targets: targets, temperature: tau).loss)
        }
        let gradient = s.zeros([N, V])
        gradient.copy(from: student)
        KLDivergence.backward(studentToGradient: gradient, teacher: teacher, targets: targets, temperature: tau, scale: 1 / 3)
        for n in [1, 4] { #expect((0..<V).allSatisfy { gradient[n * V + $0] == 0 }, "unscored row \(n)") }
        let e = GradientCheck.relativeError(of: student, analytic: gradient, eps: 1e-2, loss: loss)
        #expect(e < 1e-3, "τ = \(tau): relative error \(e)")
    }
}

/// Two-teacher distillation's loss: its gradient against central differences of its value, and
/// the per-sequence weights against a hand computation.
@Suite struct MixtureDistillationTests {
    @Test func gradientMatchesFiniteDifferences() {
        let t = TestTensors(seed: 7)
        let B = 2, T = 3, V = 5, N = B * T
        let student = t.make([N, V], scale: 2), a = t.make([N, V], scale: 2), b = t.make([N, V], scale: 2)
        let targets: [Int32] = [1, -100, 4, 0, 2, -100]
        let weights = targets.withUnsafeBufferPointer { MixtureDistillation.sampleWeights(teachers: [a, b], targets: $0.baseAddress!, sequence: T) }
        let tau: Float = 2
        func loss() -> Double {
            Double(targets.withUnsafeBufferPointer {
                MixtureDistillation.forward(student: student, teachers: [a, b], weights: weights, targets: $0.baseAddress!, sequence: T, temperature: tau).loss
            })
        }
        let gradient = t.zeros([N, V])
        targets.withUnsafeBufferPointer {
            MixtureDistillation.backward(addInto: gradient, student: student, teachers: [a, b], weights: weights, targets: $0.baseAddress!,
                                         sequence: T, temperature: tau, scale: 1 / 4)  // 4 scored rows
        }
        let eps: Float = 1e-2
        for i in 0..<(N * V) {
            let keep = student[i]
            student[i] = keep + eps; let up = loss()
            student[i] = keep - eps; let down = loss()
            student[i] = keep
            let numeric = (up - down) / Double(2 * eps)
            #expect(abs(numeric - Double(gradient[i])) <= 2e-3 * (1 + abs(numeric)), "element \(i): \(numeric) vs \(gradient[i])")
        }
        for n in [1, 5] { for j in 0..<V { #expect(gradient[n * V + j] == 0, "an unscored row gets no gradient") } }
    }

    /// w_b = softmax over the teachers of Σ log p(target): a teacher sure of the targets gets the weight.
    @Test func weightsFollowTheTeachersLikelihood() {
        let t = TestTensors()
        let V = 3, sure = t.zeros([2, V]), unsure = t.zeros([2, V])
        sure[0 * V + 2] = 10; sure[1 * V + 1] = 10  // confident and right
        let targets: [Int32] = [2, 1]
        let w = targets.withUnsafeBufferPointer { MixtureDistillation.sampleWeights(teachers: [sure, unsure], targets: $0.baseAddress!, sequence: 2) }
        // log-likelihoods: sure ≈ 2·log(1/(1 + 2e−10)), unsure = 2·log(1/3)
        let llSure: Double = 2 * (10 - log(exp(10.0) + 2)), llUnsure: Double = 2 * log(1.0 / 3)
        let expected = exp(llSure) / (exp(llSure) + exp(llUnsure))
        #expect(abs(w[0][0] - expected) < 1e-9 && abs(w[0][0] + w[0][1] - 1) < 1e-12)
    }
}

/// The prototype-relation term: its gradient against central differences.
@Suite struct PrototypeRelationTests {
    @Test func gradientMatchesFiniteDifferences() {
        var rng = SeededGenerator(seed: 12)
        let C = 6
        let prototypes = (0..<4).map { _ in (0..<C).map { _ in rng.normal() } }
        var f = (0..<C).map { _ in rng.normal() }
        let teachers = (0..<2).map { _ in (0..<C).map { _ in rng.normal() } }, weights = [0.3, 0.7]
        let (_, gradient) = PrototypeRelation.lossAndGradient(student: f, teachers: teachers, weights: weights, prototypes: prototypes, temperature: 0.5)
        let eps: Float = 1e-3
        for j in 0..<C {
            let keep = f[j]
            f[j] = keep + eps
            let up = PrototypeRelation.lossAndGradient(student: f, teachers: teachers, weights: weights, prototypes: prototypes, temperature: 0.5).loss
            f[j] = keep - eps
            let down = PrototypeRelation.lossAndGradient(student: f, teachers: teachers, weights: weights, prototypes: prototypes, temperature: 0.5).loss
            f[j] = keep
            let numeric = (up - down) / Double(2 * eps)
            #expect(abs(numeric - Double(gradient[j])) <= 1e-3 * (1 + abs(numeric)), "component \(j): \(numeric) vs \(gradient[j])")
        }
        // A student that already matches the teachers' mixture has nothing to learn.
        let same = PrototypeRelation.lossAndGradient(student: teachers[0], teachers: [teachers[0]], weights: [1], prototypes: prototypes, temperature: 0.5)
        #expect(abs(same.loss) < 1e-12 && same.gradient.allSatisfy { abs($0) < 1e-6 })
    }
}
