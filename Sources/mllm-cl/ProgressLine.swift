import Foundation

/// "  12/145 questions": redrawn in place on a terminal (at most five times a second), printed
/// once at the end otherwise.
final class ProgressLine {
    let unit: String
    let terminal = isatty(STDERR_FILENO) != 0
    private var last = Date.distantPast

    init(unit: String) { self.unit = unit }

    func update(done: Int, total: Int) {
        guard Date().timeIntervalSince(last) > 0.2 || done == total else { return }
        last = Date()
        let line = "  \(done)/\(total) \(unit)"
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)\(done == total ? "\n" : "")".utf8)) }
        else if done == total { print(line) }
    }
}
