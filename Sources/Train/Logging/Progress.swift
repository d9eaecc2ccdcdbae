import Foundation

/// Step progress: on a terminal, one line redrawn in place (stage, step/total, bar, loss, lr,
/// tokens/s, ETA); otherwise a plain log line every `every` steps.
public final class Progress {
    let label: String
    let total: Int
    let every: Int
    let terminal: Bool
    let start = Date()
    let startStep: Int
    let log: (String) -> Void

    public init(label: String, total: Int, startStep: Int, every: Int, terminal: Bool, log: @escaping (String) -> Void) {
        self.label = label
        self.total = total
        self.startStep = startStep
        self.every = every
        self.terminal = terminal
        self.log = log
    }

    /// Reports that `step` steps (1-based count) are done.
    public func update(step: Int, loss: Float, lr: Float, tokensPerSecond: Double) {
        let done = step - startStep
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - step) : 0
        let stats = String(format: "loss %.4f  lr %.2e  %.0f tok/s  ETA %@", loss, lr, tokensPerSecond, Self.clock(eta))
        if terminal {
            let width = 24, filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[2K[\(label)] \(step)/\(total) \(bar) \(stats)".utf8))
            if step == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if step % every == 0 || step == total {
            log("[\(label)] step \(step)/\(total)  \(stats)")
        }
    }

    /// Ends the in-place line before other output.
    public func interrupt() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
