import Foundation
import Support

/// A SentencePiece model (`tokenizer.model`) loaded through libsentencepiece.
///
/// Alone (this project's checkpoints) it encodes exactly as SentencePiece does. Loaded from a
/// Hugging Face directory (a `tokenizer_config.json` beside it, as LLaMA-2, TinyLlama and Vicuna
/// publish), it encodes as transformers' `LlamaTokenizer` does (``HuggingFaceRules``): special
/// tokens in the text are matched as ids, and BOS, EOS and `add_bos_token` come from the config.
///
/// Encoding never adds BOS/EOS: callers decide where sequences start and end.
public final class SentencePieceTokenizer: TextTokenizer, @unchecked Sendable {
    let processor: SentencePieceProcessor
    /// Transformers' rules, when loaded with a `tokenizer_config.json`.
    let huggingFace: HuggingFaceRules?
    /// Where the model was loaded from (for messages).
    public let path: String
    /// The serialized ModelProto this tokenizer was loaded from (what `save` writes).
    public let modelData: Data
    public let configuration: TokenizerConfig
    public let bosID: Int32?
    public let eosID: Int32?
    public let padID: Int32?

    /// Loads `path`; throws naming the file when it is missing or not a SentencePiece model.
    public convenience init(path: String, config: TokenizerConfig = TokenizerConfig()) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError("\(path): tokenizer model not found")
        }
        try self.init(data: data, path: path, config: config)
    }

    /// Loads a serialized ModelProto; `path` names it in messages. With a `tokenizer_config.json`
    /// in `config`, its tokens must be in the vocabulary (an error names the file and key).
    public init(data: Data, path: String, config: TokenizerConfig = TokenizerConfig()) throws {
        let processor = try SentencePieceProcessor(data: data, path: path)
        self.processor = processor
        modelData = data
        self.path = path
        configuration = config
        func nonNegative(_ id: Int32) -> Int32? { id >= 0 ? id : nil }
        guard let configPath = config.configPath else {
            huggingFace = nil
            (bosID, eosID, padID) = (nonNegative(processor.bosID), nonNegative(processor.eosID), nonNegative(processor.padID))
            return
        }
        let rules = try HuggingFaceRules(modelData: data, processor: processor, config: config, path: path)
        huggingFace = rules
        func id(_ token: String?, _ key: String, fallback: Int32) throws -> Int32? {
            guard let token else { return nonNegative(fallback) }
            guard let id = rules.specialIDs[token] ?? processor.id(of: token) else {
                throw TokenizerError("\(configPath): '\(key)' is '\(token)', which \(path) does not have")
            }
            return id
        }
        let bos = try id(config.bosToken, "bos_token", fallback: processor.bosID)
        bosID = config.addBOSToken ?? true ? bos : nil
        eosID = try id(config.eosToken, "eos_token", fallback: processor.eosID)
        padID = config.padToken.flatMap { rules.specialIDs[$0] ?? processor.id(of: $0) } ?? nonNegative(processor.padID)
    }

    /// Writes the model (as loaded or edited) to `path`, atomically.
    public func save(to path: String) throws { try AtomicFile.write(modelData, to: path) }

    /// Writes `tokenizer.model` (and the Hugging Face files it was loaded with) into `directory`.
    public func save(into directory: String) throws {
        try save(to: directory + "/" + TokenizerFiles.sentencePiece)
        try configuration.save(into: directory)
    }

    /// The special tokens as USER_DEFINED pieces (`addingPieces`).
    public func addingSpecialTokens(_ tokens: [String]) throws -> any TextTokenizer { try addingPieces(tokens) }

    public var vocabularySize: Int { processor.vocabularySize }
    public var unknownID: Int32 { processor.unknownID }

    /// Token ids of `text` (no BOS/EOS added).
    public func encode(_ text: String) -> [Int32] { encodeWithOffsets(text).ids }

    /// Token ids of `text` and each piece's UTF-8 byte range in `text` (SentencePiece's
    /// alignment, through normalization). A piece that covers no input byte has an empty range.
    public func encodeWithOffsets(_ text: String) -> (ids: [Int32], ranges: [Range<Int>]) {
        let bytes = Array(text.utf8)
        return huggingFace?.encode(bytes, processor) ?? processor.encode(bytes[...])
    }

    /// Text of `ids`: as SentencePiece decodes it (control tokens vanish, byte pieces join into
    /// UTF-8), or with Hugging Face's rules as transformers decodes it (special tokens as text).
    public func decode(_ ids: [Int32]) -> String { huggingFace?.decode(ids) ?? processor.decode(ids) }

    /// The piece text of `id` (for example `▁the` or `<0x0A>`).
    public func piece(_ id: Int32) -> String { processor.piece(id) }

    /// Whether `id` is a control symbol (BOS, EOS, ...), which SentencePiece decodes to nothing.
    public func isControl(_ id: Int32) -> Bool { processor.isControl(id) }

    /// The id of `piece`, or nil when the vocabulary lacks it.
    public func id(of piece: String) -> Int32? { processor.id(of: piece) }
}
