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
    /// (maxPositions, D/2) tables.
    private let cos: [Float]
    private let sin: [Float]

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
        let P = headSize / 2
        var c = [Float](repeating: 0, count: maxPositions * P), s = c
        for t in 0..<maxPositions {
            for p in 0..<P {
                // Computed in Double, as HF computes inv_freq in float and the angle in float32;
                // the difference is below float32 resolution for the positions we use.
                let invFreq = inverseFrequencies[p]
                let angle = Float(Double(t) * Double(Float(invFreq)))
                c[t * P + p] = Foundation.cos(angle)
                s[t * P + p] = Foundation.sin(angle)
            }
        }
        cos = c
        sin = s
    }

    /// Rotates `x` (N rows of H·D) in place; row n sits at position `position(n)`.
    public func forward(_ x: Tensor, heads H: Int, rowsPerSequence T: Int, startPosition: Int = 0) {
        apply(x, heads: H, rowsPerSequence: T, startPosition: startPosition, sign: 1)
    }

    /// The gradient through the rotation, in place on `dx` (it holds dy on entry).
    public func backward(_ dx: Tensor, heads H: Int, rowsPerSequence T: Int, startPosition: Int = 0) {
        apply(dx, heads: H, rowsPerSequence: T, startPosition: startPosition, sign: -1)
    }

    private func apply(_ x: Tensor, heads H: Int, rowsPerSequence T: Int, startPosition: Int, sign: Float) {
        let D = headSize, P = D / 2, N = x.rowCount
        precondition(x.lastDimension == H * D, "rope: row of \(x.lastDimension) is not \(H) heads of \(D)")
        precondition(startPosition + T <= maxPositions, "rope: position \(startPosition + T) beyond \(maxPositions)")
        cos.withUnsafeBufferPointer { cosTable in
            sin.withUnsafeBufferPointer { sinTable in
                let tables = UncheckedSendable((cosTable.baseAddress!, sinTable.baseAddress!))
                Parallel.forEach(N, costPerItem: H * D * 2) { range in
                    let (cs, sn) = tables.value
                    for n in range {
                        let t = startPosition + n % T
                        let c = cs + t * P, s = sn + t * P
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
