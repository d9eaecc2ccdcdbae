import Foundation

/// A LLaMA/Qwen2-family decoder, as its Hugging Face `config.json` describes it.
///
/// Keys use Hugging Face's snake_case names; keys this project does not use (for
/// example `torch_dtype`) are ignored, as `transformers` itself does.
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
    public var eosTokenId: Int?
    /// Wings' modality learners, when attached (this project's key; absent in plain checkpoints).
    public var wings: WingsConfig?

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
        case architectures
        case wings
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
        self.eosTokenId = eosTokenId
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "llama"
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? 10000
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId)
        wings = try c.decodeIfPresent(WingsConfig.self, forKey: .wings)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode([modelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"], forKey: .architectures)
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
        try c.encodeIfPresent(eosTokenId, forKey: .eosTokenId)
        try c.encodeIfPresent(wings, forKey: .wings)
    }

    /// The adapters this config attaches, in the order their tensors follow the decoder's own.
    public var adapterSpecs: [any DecoderAdapterSpec] { [wings].compactMap { $0 } }

    public var headSize: Int { hiddenSize / numAttentionHeads }
    public var kvSize: Int { numKeyValueHeads * headSize }
    /// q, k and v projections carry biases (Qwen2, or LLaMA with `attention_bias`).
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
        guard ["llama", "qwen2", "mistral"].contains(modelType) else {
            throw fail("'model_type' \"\(modelType)\" is not a decoder this project runs (llama, qwen2)")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw fail("'hidden_size' \(hiddenSize) is not divisible by 'num_attention_heads' \(numAttentionHeads)")
        }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw fail("'num_attention_heads' \(numAttentionHeads) is not divisible by 'num_key_value_heads' \(numKeyValueHeads)")
        }
        guard headSize % 2 == 0 else { throw fail("head size \(headSize) must be even for RoPE") }
        guard hiddenAct == "silu" else { throw fail("'hidden_act' \"\(hiddenAct)\" is not supported (silu)") }
        try wings?.validate(file: file, layerCount: numHiddenLayers)
    }

    /// Reads and validates `config.json`.
    public static func load(path: String) throws -> DecoderConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError("\(path): file not found")
        }
        let config: DecoderConfig
        do {
            config = try JSONDecoder().decode(DecoderConfig.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw ModelError("\(path): missing required key '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(type, context) {
            throw ModelError("\(path): '\(context.codingPath.map(\.stringValue).joined(separator: "."))' should be \(type)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw ModelError("\(path): '\(context.codingPath.map(\.stringValue).joined(separator: "."))' is null, expected \(type)")
        } catch {
            throw ModelError("\(path): not valid JSON (\(error.localizedDescription))")
        }
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
