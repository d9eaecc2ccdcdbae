import Foundation

/// LLaMA-3's RoPE frequency scaling (`rope_scaling` / `rope_parameters` of type `llama3`): with
/// wavelength λ = 2π / f of each inverse frequency f and L the original context,
///
///     λ < L / high_freq_factor:  f              (high frequencies kept)
///     λ > L / low_freq_factor:   f / factor     (low frequencies stretched)
///     otherwise:                 (1 − s)·f/factor + s·f,   s = (L/λ − low_freq_factor) / (high_freq_factor − low_freq_factor)
public struct RoPEScaling: Sendable, Equatable {
    public var factor: Double
    public var lowFreqFactor: Double
    public var highFreqFactor: Double
    public var originalMaxPositionEmbeddings: Int

    /// The scaled inverse frequencies.
    public func apply(_ inverseFrequencies: [Double]) -> [Double] {
        let L = Double(originalMaxPositionEmbeddings)
        let lowWavelength = L / lowFreqFactor, highWavelength = L / highFreqFactor
        return inverseFrequencies.map { f in
            let wavelength = 2 * Double.pi / f
            if wavelength < highWavelength { return f }
            if wavelength > lowWavelength { return f / factor }
            let s = (L / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
            return (1 - s) * f / factor + s * f
        }
    }

    func validate(file: String) throws {
        guard factor > 0, lowFreqFactor > 0, highFreqFactor > lowFreqFactor, originalMaxPositionEmbeddings > 0 else {
            throw ModelError("\(file): 'rope_scaling' (llama3) needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0")
        }
    }
}

/// `rope_scaling` or `rope_parameters` as written in config.json: the type and its numbers.
/// Types other than `default` and `llama3` are refused by name.
struct RoPEParameters: Codable {
    var ropeType: String?
    var ropeTheta: Float?
    var factor: Double?
    var lowFreqFactor: Double?
    var highFreqFactor: Double?
    var originalMaxPositionEmbeddings: Int?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", type, ropeTheta = "rope_theta", factor, lowFreqFactor = "low_freq_factor"
        case highFreqFactor = "high_freq_factor", originalMaxPositionEmbeddings = "original_max_position_embeddings"
    }

    init(_ s: RoPEScaling) {
        ropeType = "llama3"
        factor = s.factor
        lowFreqFactor = s.lowFreqFactor
        highFreqFactor = s.highFreqFactor
        originalMaxPositionEmbeddings = s.originalMaxPositionEmbeddings
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // transformers 4.x wrote `type` before `rope_type`.
        ropeType = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? c.decodeIfPresent(String.self, forKey: .type)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta)
        factor = try c.decodeIfPresent(Double.self, forKey: .factor)
        lowFreqFactor = try c.decodeIfPresent(Double.self, forKey: .lowFreqFactor)
        highFreqFactor = try c.decodeIfPresent(Double.self, forKey: .highFreqFactor)
        originalMaxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .originalMaxPositionEmbeddings)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(ropeType, forKey: .ropeType)
        try c.encodeIfPresent(factor, forKey: .factor)
        try c.encodeIfPresent(lowFreqFactor, forKey: .lowFreqFactor)
        try c.encodeIfPresent(highFreqFactor, forKey: .highFreqFactor)
        try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
    }

    /// The scaling these parameters ask for: nil for none (`default`), LLaMA-3's, or an error naming the type.
    func scaling() throws -> RoPEScaling? {
        switch ropeType ?? "default" {
        case "default": return nil
        case "llama3":
            guard let factor, let lowFreqFactor, let highFreqFactor, let originalMaxPositionEmbeddings else {
                throw ModelError("'rope_scaling' of type llama3 needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings")
            }
            return RoPEScaling(factor: factor, lowFreqFactor: lowFreqFactor, highFreqFactor: highFreqFactor,
                               originalMaxPositionEmbeddings: originalMaxPositionEmbeddings)
        case let type:
            throw ModelError("'rope_scaling' of type '\(type)' is not supported (default and llama3 are)")
        }
    }
}
