import Foundation
import Tokenizer

/// A ``ChatTemplate`` as one model renders it: the BOS and EOS it writes as text (LLaMA-2's
/// `<s>`, `</s>`) and its default system prompt (Qwen2's "You are a helpful assistant.").
public struct ChatFormat: Sendable, Equatable {
    public var template: ChatTemplate
    /// Used when the conversation has no system turn and the caller gives none.
    public var defaultSystem: String?
    public var bosToken: String
    public var eosToken: String

    public init(_ template: ChatTemplate, defaultSystem: String? = nil, bosToken: String = "<s>", eosToken: String = "</s>") {
        self.template = template
        self.defaultSystem = defaultSystem
        self.bosToken = bosToken
        self.eosToken = eosToken
    }

    /// Whether the rendered text starts with BOS itself (then no BOS is prepended when tokenizing,
    /// as `apply_chat_template(tokenize=True)` adds none).
    public var writesBOS: Bool { template == .llama2 }

    /// The rendered text and the UTF-8 byte ranges of the supervised parts; `system` (else the
    /// default) is used when the conversation has no system turn. Throws for LLaMA-2 when user
    /// and assistant turns do not alternate, as its template does.
    public func render(_ turns: [Turn], system: String? = nil) throws -> (text: String, supervised: [Range<Int>]) {
        var text = "", ranges: [Range<Int>] = []
        func append(_ s: String, supervised: Bool = false) {
            let start = text.utf8.count
            text += s
            if supervised { ranges.append(start..<text.utf8.count) }
        }
        let systemTurn = turns.first { $0.role == .system }?.value ?? system ?? defaultSystem
        let dialogue = turns.filter { $0.role != .system }
        switch template {
        case .chatml:
            let open = SpecialTokens.turnStart, close = SpecialTokens.turnEnd
            if let system = system ?? defaultSystem, !turns.contains(where: { $0.role == .system }) { append("\(open)system\n\(system)\(close)\n") }
            for t in turns {
                switch t.role {
                case .system: append("\(open)system\n\(t.value)\(close)\n")
                case .human: append("\(open)user\n\(t.value)\(close)\n")
                case .gpt:
                    append("\(open)assistant\n")
                    append(t.value + close, supervised: true)
                    append("\n")
                }
            }
        case .plain:
            for t in dialogue {
                if t.role == .human { append(t.value.hasSuffix("\n") || t.value.hasSuffix(SpecialTokens.image) ? t.value : t.value + "\n") }
                else { append(t.value + "\n", supervised: true) }
            }
        case .llama2:
            for (i, t) in dialogue.enumerated() {
                guard (t.role == .human) == (i % 2 == 0) else {
                    throw DataError("llama2 template: conversation roles must alternate user/assistant/user/assistant/...")
                }
                let content = i == 0 && systemTurn != nil ? "<<SYS>>\n\(systemTurn!)\n<</SYS>>\n\n" + t.value : t.value
                if t.role == .human { append(bosToken + "[INST] " + content.trimmingCharacters(in: .whitespacesAndNewlines) + " [/INST]") }
                else { append(" " + content.trimmingCharacters(in: .whitespacesAndNewlines) + " " + eosToken, supervised: true) }
            }
        case .vicuna:
            append(systemTurn ?? "")
            for t in dialogue {
                if t.role == .human { append(" USER: " + t.value) }
                else {
                    append(" ASSISTANT:")
                    append(" " + t.value + eosToken, supervised: true)
                }
            }
        }
        return (text, ranges)
    }

    /// The text a model continues to answer `user`: the user's turn and the opening of the
    /// assistant's (`<|im_start|>assistant\n`, ` ASSISTANT:`; LLaMA-2's `[/INST]` already is).
    public func generationPrompt(_ user: String, system: String? = nil) throws -> String {
        try generationPrompt([Turn(.human, user)], system: system)
    }

    /// `turns` (ending with a user turn) and the opening of the assistant's reply.
    public func generationPrompt(_ turns: [Turn], system: String? = nil) throws -> String {
        let text = try render(turns, system: system).text
        switch template {
        case .chatml: return text + SpecialTokens.turnStart + "assistant\n"
        case .vicuna: return text + " ASSISTANT:"
        case .plain, .llama2: return text
        }
    }

    /// Tokenizes a conversation: BOS (unless the template writes it), then the rendered text in
    /// one `encode` call, with each token supervised when its bytes lie inside a supervised range.
    /// A token that straddles a range boundary means the labels would not line up with the text
    /// (LLaVA's silent "tokenization mismatch"): that is an error showing the sample.
    public func tokenize(_ turns: [Turn], system: String? = nil, tokenizer: any TextTokenizer, sampleName: String) throws -> Sample {
        let (text, ranges) = try render(turns, system: system)
        return try Self.tokenize(text: text, supervised: ranges, tokenizer: tokenizer, bos: writesBOS ? nil : tokenizer.bosID,
                                 sampleName: sampleName, template: template.rawValue)
    }

    /// What goes before a generation prompt's text: nothing when the template writes BOS itself
    /// or the tokenizer is a Hugging Face one (`apply_chat_template(tokenize=True)` adds no special
    /// tokens), else BOS, as this project's checkpoints were always prompted.
    public func promptPrefix(_ tokenizer: any TextTokenizer) -> [Int32] {
        writesBOS || tokenizer.isHuggingFace ? [] : tokenizer.bosPrefix
    }

    /// The ids of the prompt for `turns` as the model sees it: ``promptPrefix(_:)`` and the
    /// generation prompt, special tokens matched as the tokenizer matches them.
    public func promptIDs(_ turns: [Turn], system: String? = nil, tokenizer: any TextTokenizer) throws -> [Int32] {
        promptPrefix(tokenizer) + tokenizer.encode(try generationPrompt(turns, system: system))
    }
}
