import Foundation

/// The standard continual-learning metrics of a task sequence (Lopez-Paz & Ranzato 2017;
/// Chaudhry et al. 2018), from the accuracy matrix R: R[i][j] is the accuracy on task j after
/// learning tasks 0…i (T tasks, learned in order).
///
///     average accuracy  = (1/T) Σᵢ (1/(i+1)) Σ_{j≤i} R[i][j]    (mean over stages of the tasks seen so far)
///     last accuracy     = (1/T) Σⱼ R[T−1][j]
///     BWT               = (1/(T−1)) Σ_{j<T−1} (R[T−1][j] − R[j][j])
///     forgetting        = (1/(T−1)) Σ_{j<T−1} max_{j≤l<T−1} (R[l][j] − R[T−1][j])
///
/// "Average accuracy" here is the average incremental accuracy (Rebuffi et al., 2017: the mean,
/// over the stages, of the accuracy on the tasks learned so far); the mean of the last row, which
/// some papers call average accuracy, is `lastAccuracy`. Forgetting takes the best accuracy since
/// the task was learned (l ≥ j, as most implementations do; Chaudhry et al. also admit l < j,
/// before the task was learned, which rarely changes the maximum). BWT and forgetting need T ≥ 2
/// (nil otherwise). Negative BWT and positive forgetting mean earlier tasks were forgotten.
public struct ContinualMetrics: Codable, Sendable, Equatable {
    public let tasks: [String]
    public let accuracy: [[Double]]
    public let averageAccuracy: Double
    public let lastAccuracy: Double
    public let backwardTransfer: Double?
    public let forgetting: Double?

    enum CodingKeys: String, CodingKey {
        case tasks, accuracy, averageAccuracy = "average_accuracy", lastAccuracy = "last_accuracy"
        case backwardTransfer = "bwt", forgetting = "average_forgetting"
    }

    /// The metrics of `accuracy` with the average and last accuracy given instead of derived from
    /// the matrix: class-incremental learning (PyCIL) takes them over every test sample of the
    /// classes seen so far, not as the mean over tasks.
    public init(tasks: [String], accuracy R: [[Double]], averageAccuracy: Double, lastAccuracy: Double) {
        let derived = ContinualMetrics(tasks: tasks, accuracy: R)
        self.tasks = tasks
        accuracy = R
        self.averageAccuracy = averageAccuracy
        self.lastAccuracy = lastAccuracy
        backwardTransfer = derived.backwardTransfer
        forgetting = derived.forgetting
    }

    /// `accuracy` must be T×T (row i: after learning task i).
    public init(tasks: [String], accuracy R: [[Double]]) {
        let T = tasks.count
        precondition(T > 0 && R.count == T && R.allSatisfy { $0.count == T }, "the accuracy matrix must be \(T)x\(T)")
        self.tasks = tasks
        accuracy = R
        var seen = 0.0
        for i in 0..<T {
            var sum = 0.0
            for j in 0...i { sum += R[i][j] }
            seen += sum / Double(i + 1)
        }
        averageAccuracy = seen / Double(T)
        lastAccuracy = R[T - 1].reduce(0, +) / Double(T)
        if T >= 2 {
            var transfer = 0.0, forgot = 0.0
            for j in 0..<(T - 1) {
                transfer += R[T - 1][j] - R[j][j]
                var best = -Double.infinity
                for l in j..<(T - 1) { best = Swift.max(best, R[l][j]) }
                forgot += best - R[T - 1][j]
            }
            backwardTransfer = transfer / Double(T - 1)
            forgetting = forgot / Double(T - 1)
        } else {
            backwardTransfer = nil
            forgetting = nil
        }
    }

    public func markdown() -> String {
        func f(_ v: Double) -> String { String(format: "%.4f", v) }
        var out = "| after learning | " + tasks.joined(separator: " | ") + " |\n|---|" + String(repeating: "---:|", count: tasks.count) + "\n"
        for (i, row) in accuracy.enumerated() { out += "| \(tasks[i]) | " + row.map(f).joined(separator: " | ") + " |\n" }
        out += "\n| metric | value |\n|---|---:|\n"
        out += "| average accuracy | \(f(averageAccuracy)) |\n| last accuracy | \(f(lastAccuracy)) |\n"
        out += "| backward transfer (BWT) | \(backwardTransfer.map { String(format: "%+.4f", $0) } ?? "–") |\n"
        out += "| average forgetting | \(forgetting.map(f) ?? "–") |\n"
        return out
    }
}
