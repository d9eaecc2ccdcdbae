import Data
import Foundation
import Tokenizer

/// What `mllm-cl generate` starts from, and the ids the model sees for it.
public enum GenerationPrompt: Sendable {
    /// Text, encoded as `tokenizer(prompt)` in transformers: BOS first when the tokenizer adds
    /// one, special tokens in the text matched as single ids.
    case text(String)
    /// Ids exactly as given: nothing added.
    case ids([Int32])
    /// One user message in a chat template, with the opening of the assistant's reply.
    case chat(String, PromptFraming)

    /// `--prompt-ids`: comma-separated token ids ("1, 2,3"); anything else is an error quoting it.
    public static func ids(parsing text: String) throws -> [Int32] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let ids = parts.compactMap { Int32($0) }
        guard ids.count == parts.count, ids.allSatisfy({ $0 >= 0 }) else {
            throw InferError("--prompt-ids must be comma-separated token ids (got '\(text)')")
        }
        return ids
    }

    /// The prompt's ids for `tokenizer`; an empty prompt is an error (there is nothing to continue).
    public func ids(_ tokenizer: any TextTokenizer) throws -> [Int32] {
        let ids: [Int32]
        switch self {
        case .text(let text): ids = tokenizer.bosPrefix + tokenizer.encode(text)
        case .ids(let given): ids = given
        case .chat(let message, let framing):
            guard let format = try framing.format(for: tokenizer) else { throw InferError("--chat needs a chat template (not --template none)") }
            ids = try format.promptIDs([Turn(.human, message)], tokenizer: tokenizer)
        }
        guard !ids.isEmpty else {
            throw InferError("the prompt is empty and \(tokenizer.path) adds no BOS: give --prompt text or --prompt-ids")
        }
        return ids
    }
}

/// `generate --json`: `{"prompt_ids", "generated_ids", "text", "finish_reason"}`, the generated
/// ids ending with the stop token when one ended generation, `text` the completion without it.
public struct GenerationRecord: Codable, Sendable, Equatable {
    public var promptIDs: [Int32]
    public var generatedIDs: [Int32]
    public var text: String
    public var finishReason: FinishReason

    public init(promptIDs: [Int32], generation: Generation, text: String) {
        self.promptIDs = promptIDs
        generatedIDs = generation.tokens
        self.text = text
        finishReason = generation.finishReason
    }

    enum CodingKeys: String, CodingKey {
        case promptIDs = "prompt_ids", generatedIDs = "generated_ids", text, finishReason = "finish_reason"
    }
}
