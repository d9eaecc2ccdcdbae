import Foundation

/// A LLaMA/Qwen2-family decoder, as its Hugging Face `config.json` describes it.
///
/// Keys use Hugging Face's snake_case names. Every key of a `config.json` is honoured or refused
/// by name (`DecoderConfigKeys`): transformers' metadata and generation defaults are the only
/// keys read past.
public struct DecoderConfig: Codable, Sendable, Equatable {
    public var modelType: String
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var ropeTheta: Float
    public var rmsNormEps: Float
    public var tieWordEmbeddings: Bool
    public var maxPositionEmbeddings: Int
    /// LLaMA's `attention_bias`: biases on q, k, v and o. Qwen2 always has q/k/v biases and no o bias.
    public var attentionBias: Bool
    public var hiddenAct: String
    public var bosTokenId: Int?
    /// `eos_token_id`: one id, or a list (LLaMA-3-Instruct's `[128001, 128008, 128009]`).
    public var eosTokenIds: [Int]
    /// `head_dim`, where it differs from hidden_size / num_attention_heads (nil: that quotient).
    public var headDim: Int?
    /// LLaMA's `mlp_bias`: biases on gate, up and down.
    public var mlpBias: Bool
    /// `rope_scaling` (or transformers 5's `rope_parameters`) of type `llama3`; nil: none.
    public var ropeScaling: RoPEScaling?
    /// Wings' modality learners, when attached (this project's key; absent in plain checkpoints).
    public var wings: WingsConfig?
    /// LoRA on the projections, when attached (PEFT's parameters under this project's key).
    public var lora: LoRAConfig?

    /// Hugging Face's key names.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case intermediateSize = "intermediate_size"
        case vocabSize = "vocab_size"
        case ropeTheta = "rope_theta"
        case rmsNormEps = "rms_norm_eps"
        case tieWordEmbeddings = "tie_word_embeddings"
        case maxPositionEmbeddings = "max_position_embeddings"
        case attentionBias = "attention_bias"
        case hiddenAct = "hidden_act"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
        case headDim = "head_dim"
        case mlpBias = "mlp_bias"
        case ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case architectures
        case wings
        case lora
    }

    public init(modelType: String = "llama", hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                numKeyValueHeads: Int? = nil, intermediateSize: Int, vocabSize: Int, ropeTheta: Float = 10000,
                rmsNormEps: Float = 1e-5, tieWordEmbeddings: Bool = false, maxPositionEmbeddings: Int = 2048,
                attentionBias: Bool = false, bosTokenId: Int? = 1, eosTokenId: Int? = 2) {
        self.modelType = modelType
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.tieWordEmbeddings = tieWordEmbeddings
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.attentionBias = attentionBias
        self.hiddenAct = "silu"
        self.bosTokenId = bosTokenId
        eosTokenIds = eosTokenId.map { [$0] } ?? []
        headDim = nil
        mlpBias = false
        ropeScaling = nil
    }

    /// The first end-of-sequence id (`eosTokenIds` has them all).
    public var eosTokenId: Int? { eosTokenIds.first }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "llama"
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        // transformers 5 writes rope_theta and the scaling into rope_parameters; 4.x, rope_theta and rope_scaling.
        let parameters = try c.decodeIfPresent(RoPEParameters.self, forKey: .ropeParameters)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? parameters?.ropeTheta ?? 10000
        let scaling = try c.decodeIfPresent(RoPEParameters.self, forKey: .ropeScaling) ?? parameters
        ropeScaling = try scaling.flatMap { try $0.scaling() }
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        if let list = try? c.decodeIfPresent([Int].self, forKey: .eosTokenId) { eosTokenIds = list } else {
            eosTokenIds = try c.decodeIfPresent(Int.self, forKey: .eosTokenId).map { [$0] } ?? []
        }
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
        wings = try c.decodeIfPresent(WingsConfig.self, forKey: .wings)
        lora = try c.decodeIfPresent(LoRAConfig.self, forKey: .lora)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode([architecture], forKey: .architectures)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        if modelType != "qwen2" { try c.encode(attentionBias, forKey: .attentionBias) }
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        if eosTokenIds.count > 1 { try c.encode(eosTokenIds, forKey: .eosTokenId) } else { try c.encodeIfPresent(eosTokenId, forKey: .eosTokenId) }
        try c.encodeIfPresent(headDim, forKey: .headDim)
        if mlpBias { try c.encode(mlpBias, forKey: .mlpBias) }
        try c.encodeIfPresent(ropeScaling.map(RoPEParameters.init), forKey: .ropeScaling)
        try c.encodeIfPresent(wings, forKey: .wings)
        try c.encodeIfPresent(lora, forKey: .lora)
    }

    /// The adapters this config attaches, in the order their tensors follow the decoder's own.
    public var adapterSpecs: [any DecoderAdapterSpec] { [wings as (any DecoderAdapterSpec)?, lora].compactMap { $0 } }

    public var headSize: Int { headDim ?? hiddenSize / numAttentionHeads }
    public var kvSize: Int { numKeyValueHeads * headSize }
    /// q, k and v projections carry biases (Qwen2, or LLaMA with `attention_bias`).
    /// The transformers class written in `architectures` (a Mistral without sliding window is a LLaMA).
    public var architecture: String { modelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM" }

    public var qkvBias: Bool { modelType == "qwen2" || attentionBias }
    /// The output projection carries a bias (LLaMA with `attention_bias` only).
    public var outputBias: Bool { modelType != "qwen2" && attentionBias }

    /// Checks the numbers fit together; throws naming `file` and the field.
    public func validate(file: String) throws {
        func fail(_ why: String) -> ModelError { ModelError("\(file): \(why)") }
        for (key, value) in [("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers),
                             ("num_attention_heads", numAttentionHeads), ("num_key_value_heads", numKeyValueHeads),
                             ("intermediate_size", intermediateSize), ("vocab_size", vocabSize),
                             ("max_position_embeddings", maxPositionEmbeddings)] where value <= 0 {
            throw fail("'\(key)' must be positive, got \(value)")
        }
        try checkSizes(file: file)
        guard rmsNormEps.isFinite, rmsNormEps > 0 else { throw fail("'rms_norm_eps' must be positive, got \(rmsNormEps)") }
        guard ropeTheta.isFinite, ropeTheta > 0 else { throw fail("'rope_theta' must be positive, got \(ropeTheta)") }
        guard ["llama", "qwen2", "mistral"].contains(modelType) else {
            throw fail("'model_type' \"\(modelType)\" is not a decoder this project runs (llama, qwen2, mistral)")
        }
        guard headDim != nil || hiddenSize % numAttentionHeads == 0 else {
            throw fail("'hidden_size' \(hiddenSize) is not divisible by 'num_attention_heads' \(numAttentionHeads)")
        }
        if let d = headDim, d <= 0 { throw fail("'head_dim' must be positive, got \(d)") }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw fail("'num_attention_heads' \(numAttentionHeads) is not divisible by 'num_key_value_heads' \(numKeyValueHeads)")
        }
        guard headSize % 2 == 0 else { throw fail("head size \(headSize) must be even for RoPE") }
        guard hiddenAct == "silu" else { throw fail("'hidden_act' \"\(hiddenAct)\" is not supported (silu)") }
        if wings != nil, headSize * numAttentionHeads != hiddenSize {
            throw fail("Wings' learners need head_dim × num_attention_heads = hidden_size (\(headSize) × \(numAttentionHeads) ≠ \(hiddenSize))")
        }
        for (key, id) in eosTokenIds.map({ ("eos_token_id", $0) }) + [bosTokenId].compactMap({ $0 }).map({ ("bos_token_id", $0) })
            where id < 0 || id > Int(Int32.max) {
            throw fail("'\(key)' \(id) is not a token id")
        }
        try ropeScaling?.validate(file: file)
        try wings?.validate(file: file, layerCount: numHiddenLayers)
        try lora?.validate(file: file, layerCount: numHiddenLayers)
    }

    /// Reads and validates `config.json`: every key honoured or refused (`DecoderConfigKeys`).
    public static func load(path: String) throws -> DecoderConfig {
        let (data, object) = try ConfigFile.read(path)
        try DecoderConfigKeys.check(object, file: path)
        let config = try ConfigFile.decode(DecoderConfig.self, from: data, path: path, what: "a decoder config")
        try config.validate(file: path)
        return config
    }

    /// config.json text (sorted keys, pretty-printed).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
