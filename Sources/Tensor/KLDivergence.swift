import Foundation

/// Knowledge distillation's loss (Hinton et al., 2015): the KL divergence from a teacher's
/// next-token distribution to a student's, both softened by a temperature τ, over the scored rows.
///
///     p = softmax(teacher[n] / τ),  q = softmax(student[n] / τ)
///     loss = (τ² / M) Σ_{n: target[n] ≥ 0} Σ_j p_j (log p_j − log q_j)        M = scored rows
///     ∂loss/∂student[n, j] = (τ / M) (q_j − p_j)
///
/// The τ² keeps the gradient's size independent of τ, as in the paper. Legend: N rows, V vocabulary.
/// student, teacher: (N, V)   targets: (N), negative = not scored (the same rows cross-entropy skips).
public enum KLDivergence {
    /// Per-row τ²·KL into `losses` (0 for unscored rows); returns the mean over scored rows and their count.
    public static func forward(losses: Tensor, student: Tensor, teacher: Tensor, targets: UnsafePointer<Int32>,
                               temperature tau: Float) -> (loss: Float, count: Int) {
        let V = student.lastDimension, N = student.rowCount
        precondition(teacher.shape == student.shape && losses.count >= N, "KL of \(student.shape) against \(teacher.shape)")
        Parallel.forEach(N, costPerItem: V * 4) { range in
            for n in range {
                guard targets[n] >= 0 else { losses.data[n] = 0; continue }
                // In Double: the KL sums terms of both signs, and float32 rounding of each would
                // swamp a small divergence (the backward needs no such care).
                let s = student.data + n * V, t = teacher.data + n * V, tau = Double(tau)
                var ms = -Double.infinity, mt = -Double.infinity
                for j in 0..<V { ms = Swift.max(ms, Double(s[j]) / tau); mt = Swift.max(mt, Double(t[j]) / tau) }
                var zs = 0.0, zt = 0.0
                for j in 0..<V { zs += exp(Double(s[j]) / tau - ms); zt += exp(Double(t[j]) / tau - mt) }
                // log p_j = t_j/τ − mt − log zt;  log q_j = s_j/τ − ms − log zs
                let lt = mt + log(zt), ls = ms + log(zs)
                var kl = 0.0
                for j in 0..<V {
                    let logP = Double(t[j]) / tau - lt, logQ = Double(s[j]) / tau - ls
                    kl += exp(logP) * (logP - logQ)
                }
                losses.data[n] = Float(kl * tau * tau)
            }
        }
        var sum = 0.0, count = 0
        for n in 0..<N where targets[n] >= 0 {
            sum += Double(losses.data[n])
            count += 1
        }
        return (count > 0 ? Float(sum / Double(count)) : 0, count)
    }

    /// Overwrites `student` with d(scale · Σ row losses)/d student = scale · τ · (q − p) on scored
    /// rows, 0 elsewhere; `scale` = 1/M gives the mean's gradient. The teacher is left unchanged.
    public static func backward(studentToGradient student: Tensor, teacher: Tensor, targets: UnsafePointer<Int32>,
                                temperature tau: Float, scale: Float) {
        let V = student.lastDimension, N = student.rowCount
        Parallel.forEach(N, costPerItem: V * 4) { range in
            for n in range {
                let s = student.data + n * V, t = teacher.data + n * V
                guard targets[n] >= 0 else { s.update(repeating: 0, count: V); continue }
                let (ms, zs) = softenedLogNormalizer(s, V, tau), (mt, zt) = softenedLogNormalizer(t, V, tau)
                let k = scale * tau
                for j in 0..<V {
                    let q = expf(s[j] / tau - ms) / zs, p = expf(t[j] / tau - mt) / zt
                    s[j] = k * (q - p)
                }
            }
        }
    }

    /// (m, z) with m = max_j x_j/τ and z = Σ_j exp(x_j/τ − m): log Σ exp(x/τ) = m + log z.
    static func softenedLogNormalizer(_ x: UnsafePointer<Float>, _ n: Int, _ tau: Float) -> (Float, Float) {
        var m = -Float.infinity
        for j in 0..<n { m = Swift.max(m, x[j] / tau) }
        var z: Float = 0
        for j in 0..<n { z += expf(x[j] / tau - m) }
        return (m, z)
    }
}
