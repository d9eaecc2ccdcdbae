import Foundation
import SwiftProtobuf

/// How transformers' `LlamaTokenizer` encodes with a SentencePiece model (transformers 5, which
/// behaves as `legacy: false` whatever the config says), checked id for id against it:
///
///     "<s>[INST] hi"  →  <s> | "[INST] hi"            special tokens matched in the raw text
///     first piece, not starting with " " or "▁"  →  "▁" + text  (SentencePiece's dummy prefix)
///     any other piece                        →  text as is    (no "▁" after a special token)
///
/// Special tokens are the model's control, unknown and user-defined pieces and the config's
/// tokens. Decoding writes special tokens as their text and drops one leading space, as the
/// `Strip` decoder does.
struct HuggingFaceRules: @unchecked Sendable {
    /// The same model without the dummy prefix.
    let unprefixed: SentencePieceProcessor
    let specials: AddedTokenMatcher
    let specialIDs: [String: Int32]
    let specialContents: [Int32: String]
    /// Whether the model adds a dummy prefix (and decoding strips it).
    let prefixes: Bool

    init(modelData: Data, processor: SentencePieceProcessor, config: TokenizerConfig, path: String) throws {
        var model: Sentencepiece_ModelProto
        do { model = try Sentencepiece_ModelProto(serializedBytes: modelData) } catch {
            throw TokenizerError("\(path): cannot parse the SentencePiece ModelProto (\(error))")
        }
        guard !model.normalizerSpec.removeExtraWhitespaces else {
            // libsentencepiece would collapse runs of spaces that transformers' LlamaTokenizer keeps.
            throw TokenizerError("\(path): normalizer_spec.remove_extra_whitespaces is true, which transformers' LlamaTokenizer does not apply: not supported in a Hugging Face directory")
        }
        var ids: [String: Int32] = [:]
        for (i, piece) in model.pieces.enumerated() where [.control, .unknown, .userDefined].contains(piece.type) {
            ids[piece.piece] = Int32(i)
        }
        for token in [config.bosToken, config.eosToken, config.unknownToken].compactMap({ $0 }) + config.extraSpecialTokens where ids[token] == nil {
            guard let id = processor.id(of: token) else {
                throw TokenizerError("\(config.configPath ?? path): the special token '\(token)' is not in \(path)")
            }
            ids[token] = id
        }
        specialIDs = ids
        specialContents = Dictionary(ids.map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        specials = AddedTokenMatcher(ids.map {
            AddedToken(id: $1, content: $0, special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false)
        })
        prefixes = model.normalizerSpec.addDummyPrefix
        model.normalizerSpec.addDummyPrefix = false
        unprefixed = try SentencePieceProcessor(data: try model.serializedBytes(), path: path)
    }

    func encode(_ bytes: [UInt8], _ prefixed: SentencePieceProcessor) -> (ids: [Int32], ranges: [Range<Int>]) {
        var ids: [Int32] = [], ranges: [Range<Int>] = []
        for piece in specials.split(bytes) {
            switch piece {
            case .added(let id, let range):
                ids.append(id)
                ranges.append(range)
            case .text(let range):
                let first = range.lowerBound == 0 && !Self.startsWithSpace(bytes)
                let (i, r) = (first ? prefixed : unprefixed).encode(bytes[range], base: range.lowerBound)
                ids += i
                ranges += r
            }
        }
        return (ids, ranges)
    }

    /// Whether the text starts with a space or "▁" (U+2581), after which Metaspace adds no prefix.
    static func startsWithSpace(_ bytes: [UInt8]) -> Bool {
        bytes.first == 0x20 || bytes.starts(with: [0xE2, 0x96, 0x81])
    }

    func decode(_ ids: [Int32]) -> String {
        var text = "", run: [Int32] = []
        for id in ids {
            guard let special = specialContents[id] else { run.append(id); continue }
            text += unprefixed.decode(run) + special
            run = []
        }
        text += unprefixed.decode(run)
        return prefixes && text.hasPrefix(" ") ? String(text.dropFirst()) : text
    }
}
