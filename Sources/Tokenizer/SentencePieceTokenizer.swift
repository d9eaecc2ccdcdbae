import CSentencePiece
import Foundation
import Support

/// A SentencePiece model (`tokenizer.model`) loaded through libsentencepiece.
///
/// Encoding never adds BOS/EOS: callers decide where sequences start and end.
public final class SentencePieceTokenizer: TextTokenizer, @unchecked Sendable {
    private let handle: OpaquePointer
    /// Where the model was loaded from (for messages).
    public let path: String

    /// The serialized ModelProto this tokenizer was loaded from (what `save` writes).
    public let modelData: Data

    /// Loads `path`; throws naming the file when it is missing or not a SentencePiece model.
    public convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError("\(path): tokenizer model not found")
        }
        try self.init(data: data, path: path)
    }

    /// Loads a serialized ModelProto; `path` names it in messages.
    public init(data: Data, path: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let loaded = data.withUnsafeBytes { raw in
            spm_load_from_bytes(raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, &message)
        }
        guard let h = loaded else {
            let reason = message.map { String(cString: $0) } ?? "unknown error"
            spm_free_string(message)
            throw TokenizerError("\(path): not a SentencePiece model (\(reason))")
        }
        handle = h
        modelData = data
        self.path = path
    }

    /// Writes the model (as loaded or edited) to `path`, atomically.
    public func save(to path: String) throws { try AtomicFile.write(modelData, to: path) }

    /// Writes `tokenizer.model` into `directory`.
    public func save(into directory: String) throws { try save(to: directory + "/" + TokenizerFiles.sentencePiece) }

    /// The special tokens as USER_DEFINED pieces (`addingPieces`).
    public func addingSpecialTokens(_ tokens: [String]) throws -> any TextTokenizer { try addingPieces(tokens) }

    deinit { spm_free(handle) }

    public var vocabularySize: Int { Int(spm_vocab_size(handle)) }
    /// Beginning-of-sequence id, or nil when the model defines none.
    public var bosID: Int32? { nonNegative(spm_bos_id(handle)) }
    public var eosID: Int32? { nonNegative(spm_eos_id(handle)) }
    public var padID: Int32? { nonNegative(spm_pad_id(handle)) }
    public var unknownID: Int32 { spm_unk_id(handle) }

    /// Token ids of `text` (no BOS/EOS added).
    public func encode(_ text: String) -> [Int32] { encodeWithOffsets(text).ids }

    /// Token ids of `text` and each piece's UTF-8 byte range in `text` (SentencePiece's
    /// alignment, through normalization). A piece that covers no input byte has an empty range.
    public func encodeWithOffsets(_ text: String) -> (ids: [Int32], ranges: [Range<Int>]) {
        let utf8 = Array(text.utf8)
        var capacity = max(16, utf8.count + 8)
        while true {
            var ids = [Int32](repeating: 0, count: capacity)
            var begins = [UInt32](repeating: 0, count: capacity), ends = begins
            let count = utf8.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    spm_encode_with_offsets(handle, chars.baseAddress, chars.count, &ids, &begins, &ends, Int64(capacity))
                }
            }
            precondition(count >= 0, "sentencepiece failed to encode")
            if Int(count) <= capacity {
                let n = Int(count)
                return (Array(ids.prefix(n)), (0..<n).map { Int(begins[$0])..<max(Int(begins[$0]), Int(ends[$0])) })
            }
            capacity = Int(count)
        }
    }

    /// Text of `ids`, as SentencePiece decodes it (control tokens vanish, byte pieces join into UTF-8).
    public func decode(_ ids: [Int32]) -> String {
        guard let text = ids.withUnsafeBufferPointer({ spm_decode(handle, $0.baseAddress, Int64($0.count)) }) else {
            return ""
        }
        defer { spm_free_string(text) }
        return String(cString: text)
    }

    /// The piece text of `id` (for example `▁the` or `<0x0A>`).
    public func piece(_ id: Int32) -> String {
        guard let text = spm_id_to_piece(handle, id) else { return "" }
        defer { spm_free_string(text) }
        return String(cString: text)
    }

    /// Whether `id` is a control symbol (BOS, EOS, ...), which decodes to nothing.
    public func isControl(_ id: Int32) -> Bool { spm_is_control(handle, id) != 0 }

    /// The id of `piece`, or nil when the vocabulary lacks it.
    public func id(of piece: String) -> Int32? {
        let id = spm_piece_to_id(handle, piece)
        return id == unknownID && piece != self.piece(unknownID) ? nil : id
    }

    private func nonNegative(_ id: Int32) -> Int32? { id >= 0 ? id : nil }
}
