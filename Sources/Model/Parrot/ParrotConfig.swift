/// Parrot's MoE on a multimodal model (`config.json` key `parrot`; a recipe's `model.parrot`).
public struct ParrotConfig: Codable, Sendable, Equatable {
    /// E, the number of experts (the paper's 6).
    public var numExperts: Int
    /// I, each SwiGLU expert's width.
    public var intermediateSize: Int
    /// λ, the share of the un-routed tokens kept (the paper's 0.1).
    public var residualScale: Float
    /// Route to the k largest weights only (nil: dense, the paper's).
    public var topK: Int?
    /// Weight of the Switch-style load-balance loss (0: off, the paper's).
    public var loadBalanceWeight: Float
    public var initializerRange: Float

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case numExperts = "num_experts", intermediateSize = "expert_intermediate_size", residualScale = "residual_scale"
        case topK = "top_k", loadBalanceWeight = "load_balance_weight", initializerRange = "initializer_range"
    }

    public init(numExperts: Int = 6, intermediateSize: Int, residualScale: Float = 0.1, topK: Int? = nil,
                loadBalanceWeight: Float = 0, initializerRange: Float = 0.02) {
        self.numExperts = numExperts
        self.intermediateSize = intermediateSize
        self.residualScale = residualScale
        self.topK = topK
        self.loadBalanceWeight = loadBalanceWeight
        self.initializerRange = initializerRange
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        numExperts = try c.decodeIfPresent(Int.self, forKey: .numExperts) ?? 6
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        residualScale = try c.decodeIfPresent(Float.self, forKey: .residualScale) ?? 0.1
        topK = try c.decodeIfPresent(Int.self, forKey: .topK)
        loadBalanceWeight = try c.decodeIfPresent(Float.self, forKey: .loadBalanceWeight) ?? 0
        initializerRange = try c.decodeIfPresent(Float.self, forKey: .initializerRange) ?? 0.02
    }

    public func validate(file: String) throws {
        guard numExperts > 0, intermediateSize > 0 else {
            throw ModelError("\(file): 'parrot.num_experts' and 'parrot.expert_intermediate_size' must be positive")
        }
        if let k = topK, !(1...numExperts).contains(k) { throw ModelError("\(file): 'parrot.top_k' \(k) is outside 1...\(numExperts)") }
        guard loadBalanceWeight >= 0 else { throw ModelError("\(file): 'parrot.load_balance_weight' must not be negative") }
    }
}
