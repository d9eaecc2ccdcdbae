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
        var out = Rendering()
        let given = turns.first { $0.role == .system }?.value, dialogue = turns.filter { $0.role != .system }
        switch template {
        case .chatml: renderChatML(turns, system: given == nil ? system ?? defaultSystem : nil, into: &out)
        case .plain: renderPlain(dialogue, into: &out)
        case .llama2: try renderLlama2(dialogue, system: given ?? system ?? defaultSystem, into: &out)
        case .vicuna: renderVicuna(dialogue, system: given ?? system ?? defaultSystem, into: &out)
        case .llava: renderLlava(dialogue, system: given ?? system ?? defaultSystem, into: &out)
        }
        return (out.text, out.supervised)
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
        case .llava: return text + "ASSISTANT:"
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
        if template == .llava { return tokenizer.bosPrefix }  // LlavaProcessor tokenizes the rendered text with BOS
        return writesBOS || tokenizer.isHuggingFace ? [] : tokenizer.bosPrefix
    }

    /// The ids of the prompt for `turns` as the model sees it: ``promptPrefix(_:)`` and the
    /// generation prompt, special tokens matched as the tokenizer matches them.
    public func promptIDs(_ turns: [Turn], system: String? = nil, tokenizer: any TextTokenizer) throws -> [Int32] {
        promptPrefix(tokenizer) + tokenizer.encode(try generationPrompt(turns, system: system))
    }
}
