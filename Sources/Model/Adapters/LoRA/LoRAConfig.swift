import Foundation

/// LoRA on a decoder's linear projections (`config.json` key `lora`; a recipe's `model.lora`),
/// with PEFT's names and scaling (Hu et al., 2021):
///
///     W' = W + (α / r)·B·A      A: (r, in), B: (out, r);  W frozen, A and B train
///
/// A starts as PEFT's default (Kaiming-uniform, bound 1/√in) and B at zero, so a fresh adapter
/// changes nothing. Tensors are named as PEFT names them inside the model:
/// `model.layers.N.self_attn.q_proj.lora_A.weight`, `…mlp.down_proj.lora_B.weight`.
/// Keys: PEFT's `r`, `lora_alpha`, `lora_dropout`, `target_modules` (also `rank`, `alpha`, `dropout`).
public struct LoRAConfig: Codable, Sendable, Equatable {
    public var rank: Int
    public var alpha: Float
    /// Dropout on the adapter's input during training; only 0 is supported.
    public var dropout: Float
    public var targetModules: [Projection]
    /// Layers that get adapters (nil: all), PEFT's `layers_to_transform`.
    public var layers: [Int]?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case r, rank, loraAlpha = "lora_alpha", alpha, loraDropout = "lora_dropout", dropout, targetModules = "target_modules"
        case layersToTransform = "layers_to_transform"
    }

    public init(rank: Int, alpha: Float, targetModules: [Projection] = [.q, .v], layers: [Int]? = nil) {
        self.rank = rank
        self.alpha = alpha
        dropout = 0
        self.targetModules = targetModules
        self.layers = layers
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let r = try c.decodeIfPresent(Int.self, forKey: .r) ?? c.decodeIfPresent(Int.self, forKey: .rank) else {
            throw DecodingError.keyNotFound(CodingKeys.r, .init(codingPath: c.codingPath, debugDescription: "LoRA needs its rank: 'r'"))
        }
        rank = r
        alpha = try c.decodeIfPresent(Float.self, forKey: .loraAlpha) ?? c.decodeIfPresent(Float.self, forKey: .alpha) ?? Float(r)
        dropout = try c.decodeIfPresent(Float.self, forKey: .loraDropout) ?? c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0
        // PEFT's "all-linear": every linear projection of the decoder layers (not lm_head).
        let names = try (try? c.decodeIfPresent(String.self, forKey: .targetModules)).flatMap { name -> [String]? in
            guard name == "all-linear" else {
                throw DecodingError.dataCorruptedError(forKey: .targetModules, in: c,
                                                       debugDescription: "'\(name)': give a list of \(Projection.allCases.map(\.rawValue).joined(separator: ", ")), or \"all-linear\"")
            }
            return Projection.allCases.map(\.rawValue)
        } ?? c.decodeIfPresent([String].self, forKey: .targetModules) ?? ["q_proj", "v_proj"]
        targetModules = try names.map { name in
            guard let p = Projection(rawValue: name) else {
                throw DecodingError.dataCorruptedError(forKey: .targetModules, in: c,
                                                       debugDescription: "'\(name)' is not one of \(Projection.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return p
        }
        layers = try c.decodeIfPresent([Int].self, forKey: .layersToTransform)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rank, forKey: .r)
        try c.encode(alpha, forKey: .loraAlpha)
        try c.encode(dropout, forKey: .loraDropout)
        try c.encode(targetModules.map(\.rawValue), forKey: .targetModules)
        try c.encodeIfPresent(layers, forKey: .layersToTransform)
    }

    /// α / r.
    public var scale: Float { alpha / Float(rank) }

    /// Globs naming every LoRA tensor of a decoder and nothing else (not Wings' learners, whose
    /// tensors are also named `…lora_A.weight`).
    public static let trainableGlobs = ["model.layers.*.self_attn.*.lora_*", "model.layers.*.mlp.*.lora_*"]

    /// The layers with adapters in a decoder of `count` layers, ascending.
    public func chosenLayers(of count: Int) -> [Int] { layers.map { Array(Set($0)).sorted() } ?? Array(0..<count) }

    /// PEFT's switches that would change the maths, accepted only with the value that changes nothing.
    static let neutralPEFTKeys: [String: @Sendable (Any) -> Bool] = [
        "use_rslora": { ($0 as? Bool) == false }, "use_dora": { ($0 as? Bool) == false },
        "fan_in_fan_out": { ($0 as? Bool) == false }, "bias": { ($0 as? String) == "none" },
    ]

    /// The keys of a `config.json`'s `lora` object: each one read here, or one of PEFT's switches
    /// at its neutral value; anything else is refused by name (`use_rslora: true` scales by α/√r,
    /// which this project does not compute).
    public static func checkKeys(_ object: [String: Any], file: String) throws {
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        for (key, value) in object.sorted(by: { $0.key < $1.key }) where !known.contains(key) {
            guard let neutral = neutralPEFTKeys[key] else { throw ModelError("\(file): 'lora.\(key)' is not a LoRA key this project implements") }
            guard neutral(value) else { throw ModelError("\(file): 'lora.\(key)' is \(value): not supported (only its default)") }
        }
    }

    public func validate(file: String, layerCount: Int) throws {
        guard rank > 0 else { throw ModelError("\(file): 'lora.r' must be positive, got \(rank)") }
        guard alpha.isFinite, alpha > 0 else { throw ModelError("\(file): 'lora.lora_alpha' must be positive, got \(alpha)") }
        guard dropout == 0 else {
            throw ModelError("\(file): 'lora.lora_dropout' \(dropout): only 0 is supported (this project's LoRA has no dropout yet)")
        }
        guard !targetModules.isEmpty, Set(targetModules).count == targetModules.count else {
            throw ModelError("\(file): 'lora.target_modules' must name each of q_proj … down_proj at most once, and at least one")
        }
        if layers?.isEmpty == true { throw ModelError("\(file): 'lora.layers_to_transform' is empty: name at least one layer, or leave the key out for all") }
        if let bad = layers?.first(where: { !(0..<layerCount).contains($0) }) {
            throw ModelError("\(file): 'lora.layers_to_transform' names layer \(bad); the decoder has layers 0...\(layerCount - 1)")
        }
    }
}

extension LoRAConfig: DecoderAdapterSpec {
    public func attach(to config: DecoderConfig, table: inout ParameterTableBuilder) -> any DecoderAdapter {
        LoRAAdapter(config: self, decoder: config, table: &table)
    }

    public func recorded(in config: DecoderConfig) -> DecoderConfig {
        var c = config
        c.lora = self
        return c
    }
}
