import Foundation
import Tokenizer

/// Text being rendered, and the UTF-8 byte ranges of its supervised parts.
struct Rendering {
    var text = ""
    var supervised: [Range<Int>] = []

    mutating func append(_ s: String, supervised isSupervised: Bool = false) {
        let start = text.utf8.count
        text += s
        if isSupervised { supervised.append(start..<text.utf8.count) }
    }
}

/// Each template's text, as its Jinja writes it (``ChatTemplate``).
extension ChatFormat {
    /// `<|im_start|>{role}\n{text}<|im_end|>\n` per turn, `system` first when given; the loss on
    /// each reply and its `<|im_end|>`.
    func renderChatML(_ turns: [Turn], system: String?, into out: inout Rendering) {
        let open = SpecialTokens.turnStart, close = SpecialTokens.turnEnd
        if let system { out.append("\(open)system\n\(system)\(close)\n") }
        for t in turns {
            switch t.role {
            case .system: out.append("\(open)system\n\(t.value)\(close)\n")
            case .human: out.append("\(open)user\n\(t.value)\(close)\n")
            case .gpt:
                out.append("\(open)assistant\n")
                out.append(t.value + close, supervised: true)
                out.append("\n")
            }
        }
    }

    /// The human text (with a newline unless it ends in one or in `<image>`), then the reply and `\n`, supervised.
    func renderPlain(_ dialogue: [Turn], into out: inout Rendering) {
        for t in dialogue {
            if t.role == .human {
                out.append(t.value.hasSuffix("\n") || t.value.hasSuffix(SpecialTokens.image) ? t.value : t.value + "\n")
            } else {
                out.append(t.value + "\n", supervised: true)
            }
        }
    }

    /// `<s>[INST] {user} [/INST]` and ` {assistant} </s>` (supervised), contents stripped as
    /// Python's `str.strip`, the system prompt folded into the first user turn; roles must alternate.
    func renderLlama2(_ dialogue: [Turn], system: String?, into out: inout Rendering) throws {
        for (i, t) in dialogue.enumerated() {
            guard (t.role == .human) == (i % 2 == 0) else {
                throw DataError("llama2 template: conversation roles must alternate user/assistant/user/assistant/...")
            }
            let content = (i == 0 ? system.map { "<<SYS>>\n\($0)\n<</SYS>>\n\n" } ?? "" : "") + t.value
            let stripped = content.trimmingCharacters(in: .whitespacesAndNewlines)
            if t.role == .human { out.append(bosToken + "[INST] " + stripped + " [/INST]") }
            else { out.append(" " + stripped + " " + eosToken, supervised: true) }
        }
    }

    /// llava-hf's template: `{role.upper()}: {text} ` per turn (a system turn's text alone), the
    /// reply and its trailing space supervised.
    func renderLlava(_ dialogue: [Turn], system: String?, into out: inout Rendering) {
        if let system { out.append(system + " ") }
        for t in dialogue {
            if t.role == .human {
                out.append("USER: " + t.value + " ")
            } else {
                out.append("ASSISTANT: ")
                out.append(t.value + " ", supervised: true)
            }
        }
    }

    /// `{system} USER: {user} ASSISTANT: {assistant}</s>`, the reply with its leading space and
    /// `</s>` supervised (a SentencePiece word carries its space).
    func renderVicuna(_ dialogue: [Turn], system: String?, into out: inout Rendering) {
        out.append(system ?? "")
        for t in dialogue {
            if t.role == .human {
                out.append(" USER: " + t.value)
            } else {
                out.append(" ASSISTANT:")
                out.append(" " + t.value + eosToken, supervised: true)
            }
        }
    }
}
