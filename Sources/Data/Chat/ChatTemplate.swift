/// The conversation formats mllm-cl renders (a recipe's `template:`, `--template`), each exactly
/// as transformers' `apply_chat_template(..., add_generation_prompt=True)` renders the Jinja
/// template it stands for (``ChatFormat`` recognises them in a model's `tokenizer_config.json`):
///
/// - `chatml` (Qwen2, SmolLM, Wings): `<|im_start|>{role}\n{text}<|im_end|>\n` per turn, roles
///   system/user/assistant, generation prompt `<|im_start|>assistant\n`; the loss is on each
///   assistant reply and its `<|im_end|>`. Qwen2's template adds a default system prompt.
/// - `llama2` (LLaMA-2-chat): `<s>[INST] {user} [/INST] {assistant} </s>` per exchange, the system
///   prompt folded into the first user turn as `<<SYS>>\n{system}\n<</SYS>>\n\n`; roles must
///   alternate; the loss is on ` {assistant} </s>`.
/// - `vicuna` (Vicuna v1.1, LLaVA-1.5): `{system} USER: {user} ASSISTANT: {assistant}</s>`, a
///   default system prompt, generation prompt ` ASSISTANT:`; the loss is on ` {assistant}</s>`.
/// - `plain` (LLaVA stage 1): the human text, then the reply and `\n`; the loss is on the reply and `\n`.
/// - `llava` (llava-hf's processor template, `llava-hf/llava-1.5-*-hf`): `USER: {user} ` and
///   `ASSISTANT: {assistant} ` per turn (a system turn's text alone), generation prompt
///   `ASSISTANT:`; prompts get the tokenizer's BOS, as `LlavaProcessor` adds it. The template
///   writes no EOS, so the loss is on `{assistant} ` alone: train with `vicuna` to teach stopping.
public enum ChatTemplate: String, Codable, Sendable, CaseIterable {
    case chatml, plain, llama2, vicuna, llava
}
