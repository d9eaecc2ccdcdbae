import Support

/// The policy for a `config.json`'s keys: each one is honoured (`DecoderConfig` reads it), checked
/// (accepted only with a value that changes nothing here), ignored by name (transformers'
/// metadata and generation defaults), or refused. A key not listed is refused, so a model
/// feature this project does not implement never passes silently.
enum DecoderConfigKeys {
    /// Read by `DecoderConfig`.
    static let honoured = Set(DecoderConfig.CodingKeys.allCases.map(\.stringValue))

    /// transformers' metadata, runtime switches and generation defaults: nothing here depends on them.
    static let ignored: Set<String> = [
        "transformers_version", "dtype", "torch_dtype", "use_cache", "initializer_range", "pad_token_id", "_name_or_path",
        "_commit_hash", "_attn_implementation_autoset", "return_dict", "output_hidden_states", "output_attentions", "torchscript",
        "use_bfloat16", "tf_legacy_loss", "pruned_heads", "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder",
        "add_cross_attention", "tie_encoder_decoder", "cross_attention_hidden_size", "finetuning_task", "id2label", "label2id",
        "tokenizer_class", "prefix", "sep_token_id", "decoder_start_token_id", "task_specific_params", "problem_type",
        "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
        "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
        "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores", "return_dict_in_generate",
        "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
        "suppress_tokens", "begin_suppress_tokens",
        // LLaMA's tensor-parallel slicing of the pretraining run: the same maths.
        "pretraining_tp",
        // nanotron's export marker in SmolLM's configs (transformers reads it as metadata).
        "is_llama_config",
    ]

    /// Checks the keys of `object`; the first key this project cannot honour is an error naming it.
    static func check(_ object: [String: Any], file: String) throws {
        func refuse(_ key: String, _ why: String) -> ModelError {
            // A key is the user's text: quoted only when it holds what would break the line.
            let shown = key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) && key.count <= 80 ? "'\(key)'" : excerpt(key)
            return ModelError("\(file): \(shown) \(why)")
        }
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            if key == "lora", let nested = value as? [String: Any] { try LoRAConfig.checkKeys(nested, file: file) }
            if honoured.contains(key) || ignored.contains(key) { continue }
            switch key {
            case "attention_dropout":
                guard (value as? Double ?? 0) == 0 else { throw refuse(key, "is \(value): attention dropout is not supported (only 0)") }
            case "use_sliding_window":
                guard (value as? Bool) != true else { throw refuse(key, "is true: sliding-window attention is not supported") }
            case "sliding_window":
                let window = value as? Int, positions = object["max_position_embeddings"] as? Int ?? 0
                let used = (object["use_sliding_window"] as? Bool) ?? (object["model_type"] as? String != "qwen2")
                guard window == nil || !used || window! >= positions else {
                    throw refuse(key, "is \(window!) (< max_position_embeddings \(positions)): sliding-window attention is not supported")
                }
            case "rope_interleaved":
                // SmolLM (nanotron): false is Hugging Face's rotate-half RoPE, what this project computes.
                guard (value as? Bool) != true else { throw refuse(key, "is true: interleaved RoPE pairs are not supported (convert the weights to rotate-half)") }
            case "max_window_layers":
                continue  // Qwen2: only with use_sliding_window, refused above
            case "layer_types":
                let types = value as? [String] ?? []
                guard types.allSatisfy({ $0 == "full_attention" }) else {
                    throw refuse(key, "has \(Set(types).sorted()): only full_attention layers are supported")
                }
            default:
                throw refuse(key, "is not a key this project implements (refused rather than ignored)")
            }
        }
    }
}
