import Foundation

/// transformers' class defaults for the keys a nested config may leave out. `save_pretrained`
/// writes a composite config's sub-configs as a diff against their class defaults in some
/// versions, so a published LLaVA's `text_config` can be as short as `{"model_type": "llama",
/// "vocab_size": 32064, ...}`; the missing keys mean LlamaConfig's defaults (a 7B shape).
/// `rope_theta` is not filled: transformers 5 writes it inside `rope_parameters`, and the
/// decoder's own default (10000) is LlamaConfig's and Qwen2Config's.
enum HuggingFaceDefaults {
    /// Per `model_type`: LlamaConfig, Qwen2Config, MistralConfig; CLIPVisionConfig, SiglipVisionConfig.
    nonisolated(unsafe) static let byModelType: [String: [String: Any]] = [
        "llama": ["vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "hidden_act": "silu", "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
                  "tie_word_embeddings": false, "attention_bias": false, "mlp_bias": false],
        "qwen2": ["vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_act": "silu", "max_position_embeddings": 32768,
                  "rms_norm_eps": 1e-6, "tie_word_embeddings": false],
        "mistral": ["vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                    "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_act": "silu", "max_position_embeddings": 131072,
                    "rms_norm_eps": 1e-6, "tie_word_embeddings": false, "sliding_window": 4096],
        "clip_vision_model": ["hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                              "num_channels": 3, "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5],
        "siglip_vision_model": ["hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                                "num_channels": 3, "image_size": 224, "patch_size": 16, "hidden_act": "gelu_pytorch_tanh",
                                "layer_norm_eps": 1e-6],
    ]

    /// `object` with the class defaults of its `model_type` (or `defaultType`) under the keys it lacks.
    static func filled(_ object: [String: Any], defaultType: String) -> [String: Any] {
        let type = object["model_type"] as? String ?? defaultType
        var filled = object
        filled["model_type"] = type
        for (key, value) in byModelType[type] ?? [:] where filled[key] == nil { filled[key] = value }
        return filled
    }
}
