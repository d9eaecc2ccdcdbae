import Tokenizer

/// How `infer` and `generate --chat` frame a prompt: as the model's own chat template (`auto`:
/// the template in its tokenizer_config.json, else ChatML), as a named template, or raw (`none`).
public enum PromptFraming: Sendable, Equatable {
    case auto
    case template(ChatTemplate)
    case none

    /// `auto`, `none` or a template's name; nil for anything else.
    public init?(name: String) {
        switch name {
        case "auto": self = .auto
        case "none": self = .none
        default:
            guard let t = ChatTemplate(rawValue: name) else { return nil }
            self = .template(t)
        }
    }

    public static let names = ["auto", "none"] + ChatTemplate.allCases.map(\.rawValue)

    /// The format for `tokenizer` (nil: raw text); an unknown model template is an error naming its file.
    public func format(for tokenizer: any TextTokenizer) throws -> ChatFormat? {
        switch self {
        case .auto: return try ChatFormat.resolve(nil, tokenizer: tokenizer)
        case .template(let t): return try ChatFormat.resolve(t, tokenizer: tokenizer)
        case .none: return nil
        }
    }
}
