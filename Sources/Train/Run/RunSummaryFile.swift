import Foundation
import Support

/// `run_summary.json`: the seed, wall seconds, steps, whether the process resumed, the final loss.
struct RunSummaryFile: Encodable {
    let seed: UInt64
    let seconds: Double
    let globalSteps: Int
    let resumed: Bool
    let finalLoss: Double?

    enum CodingKeys: String, CodingKey { case seed, seconds, globalSteps = "global_steps", resumed, finalLoss = "final_loss" }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(self), to: path)
    }
}
