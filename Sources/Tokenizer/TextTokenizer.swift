import Foundation

/// A tokenizer as the rest of the code uses it, whichever format it was loaded from: a
/// SentencePiece model (`tokenizer.model`) or a Hugging Face byte-level BPE (`tokenizer.json`).
///
/// Encoding never adds BOS/EOS: callers prepend `bosID` where sequences start (it is nil for
/// tokenizers that add none, as Qwen2's).
public protocol TextTokenizer: AnyObject, Sendable {
    /// Ids run 0..<vocabularySize (the embedding needs at least this many rows).
    var vocabularySize: Int { get }
    /// The id prepended to every sequence, or nil when the tokenizer prepends none.
    var bosID: Int32? { get }
    /// The end-of-sequence id (generation stops on it).
    var eosID: Int32? { get }
    var padID: Int32? { get }
    /// Where it was loaded from (for messages).
    var path: String { get }
    /// The Hugging Face files beside it (special tokens, chat template); empty for none.
    var configuration: TokenizerConfig { get }

    /// Token ids of `text` (no BOS/EOS).
    func encode(_ text: String) -> [Int32]
    /// Token ids of `text` and each token's UTF-8 byte range in `text` (empty for a token that
    /// covers no input byte). Chat templates use the ranges to mark the supervised tokens.
    func encodeWithOffsets(_ text: String) -> (ids: [Int32], ranges: [Range<Int>])
    /// The text of `ids` (byte sequences that are not valid UTF-8 become U+FFFD).
    func decode(_ ids: [Int32]) -> String
    /// The vocabulary entry of `id` (`▁the`, `Ġthe`, `<|im_end|>`).
    func piece(_ id: Int32) -> String
    /// The id of the vocabulary entry or special token `piece`, or nil.
    func id(of piece: String) -> Int32?
    /// A copy with `tokens` added as special tokens, each one id (new ids after the existing
    /// ones; tokens already present are kept as they are).
    func addingSpecialTokens(_ tokens: [String]) throws -> any TextTokenizer
    /// Writes the tokenizer's files into `directory` (each atomically).
    func save(into directory: String) throws
}

extension TextTokenizer {
    /// The id batches are padded with: the pad token, else EOS, else 0.
    public var paddingID: Int32 { padID ?? eosID ?? 0 }

    /// What a sequence starts with: `[bosID]`, or nothing for tokenizers that prepend none.
    public var bosPrefix: [Int32] { bosID.map { [$0] } ?? [] }

    /// Whether the tokenizer came with a Hugging Face `tokenizer_config.json` (then prompts follow
    /// transformers' rules, as `apply_chat_template` adding no special tokens of its own).
    public var isHuggingFace: Bool { configuration.configPath != nil }
}
