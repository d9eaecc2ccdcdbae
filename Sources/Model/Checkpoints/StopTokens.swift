import Tokenizer

/// The ids that end generation, the same for `generate`, `infer` and a recipe's samples.
public enum StopTokens {
    /// With a `generation_config.json` that names `eos_token_id`: exactly those (what
    /// transformers' `generate` stops on). Without one (this project's checkpoints, llama2.c
    /// imports): `config.json`'s `eos_token_id`s, the tokenizer's EOS and BOS (llama2.c's models
    /// end a story with BOS) and ChatML's `<|im_end|>` when the vocabulary has it.
    public static func of(tokenizer: any TextTokenizer, config: DecoderConfig, generation: GenerationConfig?) -> Set<Int32> {
        if let ids = generation?.eosTokenIds, !ids.isEmpty { return Set(ids.compactMap(Int32.init(exactly:))) }
        let own = [tokenizer.eosID, tokenizer.bosID, tokenizer.id(of: SpecialTokens.turnEnd)].compactMap { $0 }
        return Set(own + config.eosTokenIds.compactMap(Int32.init(exactly:)))
    }
}
