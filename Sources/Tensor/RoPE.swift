import Foundation

/// Rotary position embedding, Hugging Face "rotate-half" convention.
/// Legend: N rows (B·T), H heads in a row, D head size, P = D/2 pairs.
///
/// For pair p of a head (elements p and p + D/2) at position t, with θ_p = t · base^(−2p/D):
///   y[p] = x[p]·cos θ_p − x[p+P]·sin θ_p,   y[p+P] = x[p+P]·cos θ_p + x[p]·sin θ_p.
/// It is a rotation, so the backward pass is the inverse rotation (θ → −θ).
public struct RoPE: @unchecked Sendable {
    public let headSize: Int
    public let maxPositions: Int
    /// (tabulated, D/2) tables for the first positions; later ones are computed as they come, so a
    /// context of 10^6 positions costs no table of 10^6 rows up front.
    private let cos: [Float]
    private let sin: [Float]
    private let tabulated: Int
    private let inverseFrequencies: [Float]
    /// Positions kept in the tables at most.
    public static let tableLimit = 16_384

    /// The standard frequencies θ_p = base^(−2p/D).
    public init(headSize: Int, maxPositions: Int, theta: Float) {
        self.init(headSize: headSize, maxPositions: maxPositions, inverseFrequencies: Self.inverseFrequencies(headSize: headSize, theta: theta))
    }

    /// base^(−2p/D) for p = 0..<D/2 (in Double).
    public static func inverseFrequencies(headSize: Int, theta: Float) -> [Double] {
        (0..<(headSize / 2)).map { p in 1.0 / pow(Double(theta), Double(2 * p) / Double(headSize)) }
    }

    /// Rotation by position · `inverseFrequencies[p]` for pair p (LLaMA-3's scaled frequencies, say).
    public init(headSize: Int, maxPositions: Int, inverseFrequencies: [Double]) {
        precondition(headSize % 2 == 0 && inverseFrequencies.count == headSize / 2, "RoPE needs an even head size and D/2 frequencies")
        self.headSize = headSize
        self.maxPositions = maxPositions
        let frequencies = inverseFrequencies.map { Float($0) }
        self.inverseFrequencies = frequencies
        let P = headSize / 2
        let rows = Swift.min(maxPositions, Self.tableLimit)
        tabulated = rows
        var c = [Float](repeating: 0, count: rows * P), s = c
        c.withUnsafeMutableBufferPointer { c in
            s.withUnsafeMutableBufferPointer { s in
                for t in 0..<rows { Self.angles(position: t, frequencies, cos: c.baseAddress! + t * P, sin: s.baseAddress! + t * P) }
            }
        }
        cos = c
        sin = s
    }

    /// cos and sin of position t's P angles into `cos` and `sin`. The angle is t·inv_freq with
    /// inv_freq rounded to float (as HF computes it) and the product in Double; the difference is
    /// below float32 resolution for the positions we use.
    private static func angles(position t: Int, _ inverseFrequencies: [Float], cos c: UnsafeMutablePointer<Float>, sin s: UnsafeMutablePointer<Float>) {
        for (p, invFreq) in inverseFrequencies.enumerated() {
            let angle = Float(Double(t) * Double(invFreq))
            c[p] = Foundation.cos(angle)
            s[p] = Foundation.sin(angle)
        }
    }

    /// Where each row of a pass sits in its sequence.
    public enum Positions: Sendable {
        /// Row n at `start` + n mod T: sequences of T consecutive rows.
        case consecutive(rowsPerSequence: Int, start: Int)
        /// Row n at `positions[n]` (sequences decoded together from different positions).
        case listed([Int])

        @inline(__always) func callAsFunction(_ n: Int) -> Int {
            switch self {
            case .consecutive(let T, let start): start + n % T
            case .listed(let positions): positions[n]
            }
        }
    }

    /// Rotates `x` (N rows of H·D) in place; row n sits at position start + n mod T.
    public func forward(_ x: Tensor, heads H: Int, rowsPerSequence T: Int, startPosition: Int = 0) {
        apply(x, heads: H, positions: .consecutive(rowsPerSequence: T, start: startPosition), sign: 1)
    }

    /// Rotates `x` (N rows of H·D) in place, row n at `positions(n)`.
    public func forward(_ x: Tensor, heads H: Int, positions: Positions) {
        apply(x, heads: H, positions: positions, sign: 1)
    }

    /// The gradient through the rotation, in place on `dx` (it holds dy on entry).
    public func backward(_ dx: Tensor, heads H: Int, rowsPerSequence T: Int, startPosition: Int = 0) {
        apply(dx, heads: H, positions: .consecutive(rowsPerSequence: T, start: startPosition), sign: -1)
    }

    private func apply(_ x: Tensor, heads H: Int, positions: Positions, sign: Float) {
        let D = headSize, P = D / 2, N = x.rowCount
        precondition(x.lastDimension == H * D, "rope: row of \(x.lastDimension) is not \(H) heads of \(D)")
        switch positions {
        case .consecutive(let T, let start): precondition(start + Swift.min(T, N) <= maxPositions, "rope: position \(start + T) beyond \(maxPositions)")
        case .listed(let p): precondition(p.count == N && p.allSatisfy { $0 >= 0 && $0 < maxPositions }, "rope: positions beyond \(maxPositions)")
        }
        cos.withUnsafeBufferPointer { cosTable in
            sin.withUnsafeBufferPointer { sinTable in
                let tables = UncheckedSendable((cosTable.baseAddress!, sinTable.baseAddress!))
                Parallel.forEach(N, costPerItem: H * D * 2) { range in
                    let (cs, sn) = tables.value
                    var late: UnsafeMutablePointer<Float>?  // (2, P): cos and sin of a position past the tables
                    defer { late?.deallocate() }
                    for n in range {
                        let t = positions(n)
                        var c = UnsafePointer(cs + t * P), s = UnsafePointer(sn + t * P)
                        if t >= tabulated {
                            if late == nil { late = .allocate(capacity: 2 * P) }
                            Self.angles(position: t, inverseFrequencies, cos: late!, sin: late! + P)
                            (c, s) = (UnsafePointer(late!), UnsafePointer(late! + P))
                        }
                        for h in 0..<H {
                            let v = x.data + n * H * D + h * D
                            for p in 0..<P {
                                let a = v[p], b = v[p + P], sp = sign * s[p]
                                v[p] = a * c[p] - b * sp
                                v[p + P] = b * c[p] + a * sp
                            }
                        }
                    }
                }
            }
        }
    }
}
