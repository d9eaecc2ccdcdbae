import Foundation
import Tokenizer

extension ChatFormat {
    /// `template` for `tokenizer`: its BOS/EOS text from its config (else its pieces). The tokens
    /// a template writes as text must encode as one id each, or the error says so.
    public init(_ template: ChatTemplate, tokenizer: any TextTokenizer, defaultSystem: String? = nil) throws {
        let config = tokenizer.configuration
        let bos = config.bosToken ?? tokenizer.bosID.map(tokenizer.piece) ?? "<s>"
        let eos = config.eosToken ?? tokenizer.eosID.map(tokenizer.piece) ?? "</s>"
        self.init(template, defaultSystem: defaultSystem, bosToken: bos, eosToken: eos)
        let written = switch template {
        case .chatml: [SpecialTokens.turnStart, SpecialTokens.turnEnd]
        case .llama2: [bos, eos]
        case .vicuna: [eos]
        case .plain, .llava: [String]()
        }
        // Matched as one id inside text (after other text: SentencePiece's dummy prefix aside).
        for token in written where tokenizer.id(of: token).map({ tokenizer.encode("a" + token).last != $0 }) ?? true {
            throw DataError("\(tokenizer.path): the \(template.rawValue) template writes '\(token)', which this tokenizer does not encode as one id (add it with the recipe's special_tokens:, or choose another template:)")
        }
    }

    /// How prompts are framed for `tokenizer`: `requested` when given, else the model's own chat
    /// template (``recognizing(_:file:tokenizer:)``), else (this project's checkpoints) `fallback`.
    /// A Hugging Face directory without a chat template is an error, as in transformers.
    public static func resolve(_ requested: ChatTemplate?, tokenizer: any TextTokenizer, fallback: ChatTemplate = .chatml) throws -> ChatFormat {
        if let requested { return try ChatFormat(requested, tokenizer: tokenizer) }
        let config = tokenizer.configuration
        guard let jinja = config.chatTemplate else {
            if let file = config.configPath {
                throw DataError("\(file): no chat_template (a base model, not a chat one); set the recipe's template: key (or --template) to chatml, llama2, vicuna or plain")
            }
            return try ChatFormat(fallback, tokenizer: tokenizer)
        }
        return try recognizing(jinja, file: config.chatTemplatePath ?? tokenizer.path, tokenizer: tokenizer)
    }

    /// The format a Jinja `chat_template` renders, recognised by its markers: ChatML
    /// (`<|im_start|>`, `<|im_end|>`; a default system prompt when it writes one), LLaMA-2
    /// (`[INST]` and `<<SYS>>`), Vicuna (` USER: `, ` ASSISTANT:` and a default system message).
    /// Any other template is an error naming `file`: never a silent fallback.
    public static func recognizing(_ jinja: String, file: String, tokenizer: any TextTokenizer) throws -> ChatFormat {
        let unknown = DataError("\(file): chat_template is not one mllm-cl renders (ChatML, LLaMA-2 [INST], Vicuna USER:/ASSISTANT: or llava-hf's); set the recipe's template: key (or --template) to chatml, llama2, vicuna or plain")
        // Qwen3's ChatML adds <think> blocks: rendering it as plain ChatML would be silently wrong.
        guard !jinja.contains("<think>") else { throw unknown }
        if jinja.contains(SpecialTokens.turnStart) && jinja.contains(SpecialTokens.turnEnd) && jinja.contains("assistant") {
            return try ChatFormat(.chatml, tokenizer: tokenizer, defaultSystem: firstMatch(#"<\|im_start\|>system(?:\n|\\n)([^'"<{}]+?)<\|im_end\|>"#, in: jinja))
        }
        if jinja.contains("[INST]") && jinja.contains("<<SYS>>") { return try ChatFormat(.llama2, tokenizer: tokenizer) }
        // llava-hf's processor template: the role upper-cased, images then texts of a content list
        if jinja.contains("message['role'].upper()") && jinja.contains("'ASSISTANT:'") && !jinja.contains("<|") {
            return try ChatFormat(.llava, tokenizer: tokenizer)
        }
        if jinja.contains(" USER: ") && jinja.contains(" ASSISTANT:"),
           let system = firstMatch(#"set system_message = '((?:[^'\\]|\\.)*)'"#, in: jinja) {
            return try ChatFormat(.vicuna, tokenizer: tokenizer, defaultSystem: system.replacingOccurrences(of: "\\'", with: "'"))
        }
        throw unknown
    }

    private static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let m = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let r = Range(m.range(at: 1), in: text) else { return nil }
        return String(text[r])
    }
}
