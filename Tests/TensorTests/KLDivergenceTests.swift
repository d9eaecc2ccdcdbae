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
