import Foundation

/// Two-teacher distillation's loss (MulKI-style, adapted to next-token prediction): each sequence
/// b weighs the teachers by how well they predict its own targets, and the student is pulled
/// towards each teacher's softened distribution in that proportion.
///
///     w_b = softmax_i ( Σ_{scored n of b} log softmax(T_i[n])[target n] )          (per sequence)
///     p_i[n] = softmax(T_i[n] / τ),   q[n] = softmax(S[n] / τ)
///     loss = (τ² / M) Σ_{scored n} Σ_i w_{b(n),i} KL(p_i[n] ‖ q[n])                M = scored rows
///     ∂loss/∂S[n, j] = (τ / M) (q_j − Σ_i w_{b(n),i} p_i,j)
///
/// Legend: N = B·T rows, V vocabulary; student and each teacher (N, V); targets (N), negative =
/// not scored.
public enum MixtureDistillation {
    /// w (B, teachers): a softmax over the teachers of each sequence's target log-likelihood
    /// (equal weights for a sequence with no scored row).
    public static func sampleWeights(teachers: [Tensor], targets: UnsafePointer<Int32>, sequence T: Int) -> [[Double]] {
        let V = teachers[0].lastDimension, N = teachers[0].rowCount, B = N / T
        return (0..<B).map { b in
            let ll = teachers.map { t -> Double in
                var sum = 0.0
                for n in (b * T)..<((b + 1) * T) where targets[n] >= 0 {
                    let row = t.data + n * V
                    var m = -Double.infinity
                    for j in 0..<V { m = Swift.max(m, Double(row[j])) }
                    var z = 0.0
                    for j in 0..<V { z += exp(Double(row[j]) - m) }
                    sum += Double(row[Int(targets[n])]) - m - log(z)
                }
                return sum
            }
            let top = ll.max()!, e = ll.map { exp($0 - top) }, total = e.reduce(0, +)
            return e.map { $0 / total }
        }
    }

    /// The loss: the mean over scored rows of τ² Σ_i w_i KL(p_i ‖ q), and the scored rows' count.
    public static func forward(student: Tensor, teachers: [Tensor], weights: [[Double]], targets: UnsafePointer<Int32>,
                               sequence T: Int, temperature tau: Float) -> (loss: Float, count: Int) {
        let V = student.lastDimension, N = student.rowCount, tau = Double(tau)
        var sum = 0.0, count = 0
        for n in 0..<N where targets[n] >= 0 {
            let logQ = logSoftmax(student.data + n * V, V, tau)
            for (i, t) in teachers.enumerated() {
                let logP = logSoftmax(t.data + n * V, V, tau)
                var kl = 0.0
                for j in 0..<V { kl += exp(logP[j]) * (logP[j] - logQ[j]) }
                sum += weights[n / T][i] * kl * tau * tau
            }
            count += 1
        }
        return (count > 0 ? Float(sum / Double(count)) : 0, count)
    }

    /// Adds scale · τ · (q − Σ_i w_i p_i) into `gradient` (N, V) on the scored rows: `scale` = 1/M
    /// gives the mean's gradient.
    public static func backward(addInto gradient: Tensor, student: Tensor, teachers: [Tensor], weights: [[Double]],
                                targets: UnsafePointer<Int32>, sequence T: Int, temperature tau: Float, scale: Float) {
        let V = student.lastDimension, N = student.rowCount
        let run = UncheckedSendable((gradient, student, teachers))
        Parallel.forEach(N, costPerItem: V * 8) { range in
            let (gradient, student, teachers) = run.value
            for n in range where targets[n] >= 0 {
                let q = logSoftmax(student.data + n * V, V, Double(tau)).map(exp)
                var target = [Double](repeating: 0, count: V)
                for (i, t) in teachers.enumerated() {
                    let p = logSoftmax(t.data + n * V, V, Double(tau))
                    for j in 0..<V { target[j] += weights[n / T][i] * exp(p[j]) }
                }
                let g = gradient.data + n * V, k = Double(scale * tau)
                for j in 0..<V { g[j] += Float(k * (q[j] - target[j])) }
            }
        }
    }

    /// log softmax(x / τ) of one row, in Double.
    static func logSoftmax(_ x: UnsafePointer<Float>, _ V: Int, _ tau: Double) -> [Double] {
        var m = -Double.infinity
        for j in 0..<V { m = Swift.max(m, Double(x[j]) / tau) }
        var z = 0.0
        for j in 0..<V { z += exp(Double(x[j]) / tau - m) }
        let lse = m + log(z)
        return (0..<V).map { Double(x[$0]) / tau - lse }
    }
}
