/// One item's verdicts: whether acc, and in continuation mode acc_norm and acc_bytes, pick the answer.
public struct ItemScore: Sendable, Equatable {
    public var acc: Bool
    public var accNorm: Bool?
    public var accBytes: Bool?

    /// Letter mode: acc alone.
    public init(acc: Bool) { self.acc = acc }

    /// Continuation mode: the most likely choice by Σ log p, by Σ log p / characters (Unicode
    /// code points, as lm-evaluation-harness's `len(choice)`) and by Σ log p / UTF-8 bytes.
    public init(logLikelihoods ll: [Double], choices: [String], answer: Int) {
        func picks(_ length: (String) -> Int) -> Bool {
            Evaluator.argmax(zip(ll, choices).map { $0 / Double(max(1, length($1))) }) == answer
        }
        acc = Evaluator.argmax(ll) == answer
        accNorm = picks { $0.unicodeScalars.count }
        accBytes = picks { $0.utf8.count }
    }
}

/// Counts of correct verdicts over items, as a `Score`.
struct Tally {
    var n = 0, acc = 0, accNorm = 0, accBytes = 0

    mutating func add(_ s: ItemScore) {
        n += 1
        acc += s.acc ? 1 : 0
        accNorm += s.accNorm == true ? 1 : 0
        accBytes += s.accBytes == true ? 1 : 0
    }

    /// The counts behind `score` (each rate times n, which recovers the integer count exactly).
    init(_ score: Score) {
        n = score.n
        func count(_ rate: Double?) -> Int { Int(((rate ?? 0) * Double(score.n)).rounded()) }
        acc = count(score.acc)
        accNorm = count(score.accNorm)
        accBytes = count(score.accBytes)
    }

    init() {}

    static func + (a: Tally, b: Tally) -> Tally {
        var t = a
        t.n += b.n
        t.acc += b.acc
        t.accNorm += b.accNorm
        t.accBytes += b.accBytes
        return t
    }

    /// The accuracies; the normalised ones only in continuation mode.
    func score(continuation: Bool) -> Score {
        let d = Double(max(n, 1))
        return Score(acc: Double(acc) / d, accNorm: continuation ? Double(accNorm) / d : nil,
                     accBytes: continuation ? Double(accBytes) / d : nil, n: n)
    }
}
