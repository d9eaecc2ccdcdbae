import Foundation
import Support

/// A Hugging Face `tokenizer.json` with a byte-level BPE model, as GPT-2, Qwen2, LLaMA-3 and
/// SmolLM publish them, encoding id for id as the `tokenizers` library does:
///
///     added tokens (matched first, in the raw text) → normalizer (NFC) → pre-tokenizers
///     (Split by regex, ByteLevel) → bytes as GPT-2's characters → BPE merges by rank
///
/// and decoding through the ByteLevel decoder (bytes that are not valid UTF-8 become U+FFFD, as
/// Python's `errors="replace"`). BOS, EOS and pad come from the post-processor and
/// `tokenizer_config.json` / `special_tokens_map.json` beside it. Every part of the file this
/// class does not implement is refused by name.
public final class ByteLevelBPETokenizer: TextTokenizer, @unchecked Sendable {
    public let path: String
    let model: BPEModel
    let added: AddedTokenMatcher
    let addedByID: [Int32: AddedToken]
    let addedByContent: [String: Int32]
    let nfc: Bool
    let preTokenizers: [PreTokenizerStep]
    public let vocabularySize: Int
    public let bosID: Int32?
    public let eosID: Int32?
    public let padID: Int32?
    /// The parsed files, kept to write them back (with added special tokens).
    let json: [String: Any]
    public let configuration: TokenizerConfig

    /// Loads `path` (a `tokenizer.json`) and the `tokenizer_config.json` and
    /// `special_tokens_map.json` beside it, when present.
    public convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError("\(path): file not found") }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError("\(path): not a JSON object")
        }
        let directory = (path as NSString).deletingLastPathComponent
        try self.init(json: json, config: try TokenizerConfig(directory: directory.isEmpty ? "." : directory), path: path)
    }

    init(json: [String: Any], config: TokenizerConfig, path: String) throws {
        let file = TokenizerJSON(json: json, path: path)
        self.path = path
        self.json = json
        self.configuration = config
        model = try file.model()
        let addedTokens = try file.addedTokens()
        added = AddedTokenMatcher(addedTokens)
        addedByID = Dictionary(addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        addedByContent = Dictionary(addedTokens.map { ($0.content, $0.id) }, uniquingKeysWith: { a, _ in a })
        nfc = try file.normalizerIsNFC()
        preTokenizers = try file.preTokenizers()
        try file.checkDecoder()
        let maxID = max(model.tokens.keys.max() ?? -1, addedTokens.map(\.id).max() ?? -1)
        vocabularySize = Int(maxID) + 1
        let (byContent, vocabulary) = (addedByContent, model.vocabulary)
        let lookup = { (s: String) in byContent[s] ?? vocabulary[s] }
        bosID = try file.prependedToken(config: config).map { token in
            guard let id = lookup(token) else { throw TokenizerError("\(path): the BOS token '\(token)' is not in the vocabulary") }
            return id
        }
        eosID = try config.eosToken.map { token in
            guard let id = lookup(token) else { throw TokenizerError("\(config.configPath ?? path): 'eos_token' is '\(token)', which \(path) does not have") }
            return id
        }
        padID = config.padToken.flatMap(lookup)
    }

    // MARK: Encoding

    public func encode(_ text: String) -> [Int32] { encodeWithOffsets(text).ids }

    public func encodeWithOffsets(_ text: String) -> (ids: [Int32], ranges: [Range<Int>]) {
        let bytes = Array(text.utf8)
        var ids: [Int32] = [], ranges: [Range<Int>] = []
        for piece in added.split(bytes) {
            switch piece {
            case .added(let id, let range):
                ids.append(id)
                ranges.append(range)
            case .text(let range):
                encodeText(bytes, range, &ids, &ranges)
            }
        }
        return (ids, ranges)
    }

    /// Ordinary text `bytes[range]`: normalized, pre-tokenized, each span through the BPE.
    private func encodeText(_ bytes: [UInt8], _ range: Range<Int>, _ ids: inout [Int32], _ ranges: inout [Range<Int>]) {
        let normalized = nfc ? Normalization.nfc(bytes[range], base: range.lowerBound)
                             : PreToken(bytes: Array(bytes[range]), offsets: Array(range))
        var spans = [normalized]
        for step in preTokenizers { spans = step.apply(spans) }
        for span in spans {
            var position = 0
            for id in model.tokenize(ByteLevel.encode(span.bytes)) {
                // A token's characters stand for one byte each (the unknown token, for a byte the vocabulary lacks, for one).
                let length = id == model.unknown ? 1 : model.tokens[id].map { $0.unicodeScalars.count } ?? 1
                ranges.append(Self.byteRange(span.offsets, position..<min(position + length, span.offsets.count), fallback: range.lowerBound))
                ids.append(id)
                position = min(position + length, span.offsets.count)
            }
        }
    }

    /// The text bytes that span positions `positions` came from (inserted ones have none):
    /// from the first to the last, or an empty range at the span's first source byte.
    private static func byteRange(_ offsets: [Int], _ positions: Range<Int>, fallback: Int) -> Range<Int> {
        let covered = offsets[positions].filter { $0 >= 0 }
        guard let first = covered.min(), let last = covered.max() else {
            let at = offsets.first { $0 >= 0 } ?? fallback
            return at..<at
        }
        return first..<(last + 1)
    }

    // MARK: Decoding and the vocabulary

    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if let t = addedByID[id] { bytes += Array(t.content.utf8) } else if let token = model.tokens[id] { bytes += ByteLevel.decode(token) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func piece(_ id: Int32) -> String { addedByID[id]?.content ?? model.tokens[id] ?? "" }

    public func id(of piece: String) -> Int32? { addedByContent[piece] ?? model.vocabulary[piece] }

    /// Added tokens, special or not (their ids and contents).
    public var addedTokenContents: [String] { added.tokens.map(\.content) }

    public func addingSpecialTokens(_ tokens: [String]) throws -> any TextTokenizer {
        var json = self.json, list = (json["added_tokens"] as? [[String: Any]]) ?? [], next = vocabularySize
        for token in tokens where id(of: token) == nil {
            list.append(["id": next, "content": token, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true])
            next += 1
        }
        json["added_tokens"] = list
        return try ByteLevelBPETokenizer(json: json, config: configuration, path: path)
    }

    public func save(into directory: String) throws {
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write(data, to: directory + "/" + TokenizerFiles.json)
        try configuration.save(into: directory)
    }
}
