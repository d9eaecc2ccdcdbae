import Foundation

/// Before/after accuracy per subject: what a model forgot (negative delta) or gained.
public struct ForgettingReport: Codable, Sendable, Equatable {
    public struct Row: Codable, Sendable, Equatable {
        public var subject: String
        public var n: Int
        public var before: Double
        public var after: Double
        public var delta: Double
        public var beforeNorm: Double?
        public var afterNorm: Double?
        public var deltaNorm: Double?

        enum CodingKeys: String, CodingKey {
            case subject, n, before, after, delta, beforeNorm = "before_norm", afterNorm = "after_norm", deltaNorm = "delta_norm"
        }
    }

    enum CodingKeys: String, CodingKey { case suite, before, after, subjects, overall, normPerByte = "norm_per_byte" }

    public var suite: String
    public var before: String
    public var after: String
    public var subjects: [Row]
    public var overall: Row
    /// The normalised columns compare acc_bytes: one result predates acc_norm per character (its
    /// JSON has no `acc_bytes`, its `acc_norm` was per UTF-8 byte), so per byte is what both have.
    public var normPerByte = false

    /// Compares two results of the same suite and mode; subjects present in only one are an error.
    public static func compare(before b: EvalResult, after a: EvalResult, beforeName: String, afterName: String) throws -> ForgettingReport {
        guard b.mode == a.mode else { throw EvalError("cannot compare a \(b.mode.rawValue)-mode result with a \(a.mode.rawValue)-mode one") }
        guard Set(b.subjects.keys) == Set(a.subjects.keys) else {
            let only = Set(b.subjects.keys).symmetricDifference(a.subjects.keys).sorted().prefix(5)
            throw EvalError("the two results cover different subjects (\(only.joined(separator: ", ")) ...): same suite and --limit?")
        }
        let perByte = b.overall.accNorm != nil && (b.overall.accBytes == nil) != (a.overall.accBytes == nil)
        func norm(_ s: Score) -> Double? { perByte ? s.accBytes ?? s.accNorm : s.accNorm }
        func row(_ name: String, _ x: Score, _ y: Score) -> Row {
            let (bn, an) = (norm(x), norm(y))
            return Row(subject: name, n: y.n, before: x.acc, after: y.acc, delta: y.acc - x.acc, beforeNorm: bn, afterNorm: an,
                       deltaNorm: bn.flatMap { b in an.map { $0 - b } })
        }
        var report = ForgettingReport(suite: a.suite, before: beforeName, after: afterName,
                                      subjects: b.subjects.keys.sorted().map { row($0, b.subjects[$0]!, a.subjects[$0]!) },
                                      overall: row("overall", b.overall, a.overall))
        report.normPerByte = perByte
        return report
    }

    public func markdown() -> String {
        let norm = overall.deltaNorm != nil
        var s = "Forgetting on \(suite): \(before) → \(after)\n\n"
        if normPerByte { s += "(normalised per UTF-8 byte, acc_bytes: one result predates acc_norm per character)\n\n" }
        let name = normPerByte ? "acc_bytes" : "acc_norm"
        s += "| subject | n | before | after | Δ acc |\(norm ? " before (norm) | after (norm) | Δ \(name) |" : "")\n"
        s += "|---|---:|---:|---:|---:|\(norm ? "---:|---:|---:|" : "")\n"
        func line(_ r: Row, bold: Bool) -> String {
            let b = bold ? "**" : ""
            var t = "| \(b)\(r.subject)\(b) | \(r.n) | \(f(r.before)) | \(f(r.after)) | \(b)\(signed(r.delta))\(b) |"
            if norm { t += " \(f(r.beforeNorm ?? 0)) | \(f(r.afterNorm ?? 0)) | \(b)\(signed(r.deltaNorm ?? 0))\(b) |" }
            return t + "\n"
        }
        for r in subjects { s += line(r, bold: false) }
        return s + line(overall, bold: true)
    }

    func f(_ x: Double) -> String { String(format: "%.4f", x) }
    func signed(_ x: Double) -> String { String(format: "%+.4f", x) }
}
