import Foundation

/// Masked softmax cross-entropy over a vocabulary.  Legend: N rows, V vocabulary.
///
/// loss = (1/M) Σ_{n: target[n] ≥ 0} −log softmax(logits[n])[target[n]],  M = number of valid rows.
/// logits: (N, V)   targets: (N) with negative values ignored (Hugging Face uses −100).
public enum CrossEntropy {
    /// Per-row losses into `losses` (0 for ignored rows); returns the mean over valid rows
    /// and their count. The logits are left unchanged.
    public static func forward(losses: Tensor, logits: Tensor, targets: UnsafePointer<Int32>) -> (loss: Float, count: Int) {
        let V = logits.lastDimension, N = logits.rowCount
        Parallel.forEach(N, costPerItem: V * 2) { range in
            for n in range {
                let t = Int(targets[n])
                guard t >= 0 else { losses.data[n] = 0; continue }
                precondition(t < V, "target \(t) outside the vocabulary of \(V)")
                losses.data[n] = logSumExp(logits.data + n * V, V) - logits.data[n * V + t]
            }
        }
        var sum: Double = 0
        var count = 0
        for n in 0..<N where targets[n] >= 0 {
            sum += Double(losses.data[n])
            count += 1
        }
        return (count > 0 ? Float(sum / Double(count)) : 0, count)
    }

    /// Overwrites `logits` with d(scale · Σ row losses)/d logits:
    /// (softmax − onehot(target)) · scale on valid rows, 0 on ignored rows.
    /// For the mean loss, `scale` = 1 / valid count.
    public static func backward(logitsToGradient logits: Tensor, targets: UnsafePointer<Int32>, scale: Float) {
        let V = logits.lastDimension, N = logits.rowCount
        Parallel.forEach(N, costPerItem: V * 2) { range in
            for n in range {
                let row = logits.data + n * V
                let t = Int(targets[n])
                guard t >= 0 else { row.update(repeating: 0, count: V); continue }
                Softmax.row(row, row, V)
                for j in 0..<V { row[j] *= scale }
                row[t] -= scale
            }
        }
    }

    /// log Σ exp(x), stable.
    public static func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = -Float.infinity
        for j in 0..<n { m = Swift.max(m, x[j]) }
        var s: Float = 0
        for j in 0..<n { s += expf(x[j] - m) }
        return m + logf(s)
    }
}
