import CSentencePiece
import Foundation

/// A failure to load or use a SentencePiece model.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A SentencePiece model (`tokenizer.model`) loaded through libsentencepiece.
///
/// Encoding never adds BOS/EOS: callers decide where sequences start and end.
public final class SentencePieceTokenizer: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Where the model was loaded from (for messages).
    public let path: String

    /// Loads `path`; throws naming the file when it is missing or not a SentencePiece model.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TokenizerError("\(path): tokenizer model not found")
        }
        var message: UnsafeMutablePointer<CChar>?
        guard let h = spm_load(path, &message) else {
            let reason = message.map { String(cString: $0) } ?? "unknown error"
            spm_free_string(message)
            throw TokenizerError("\(path): not a SentencePiece model (\(reason))")
        }
        handle = h
        self.path = path
    }

    deinit { spm_free(handle) }

    public var vocabularySize: Int { Int(spm_vocab_size(handle)) }
    /// Beginning-of-sequence id, or nil when the model defines none.
    public var bosID: Int32? { nonNegative(spm_bos_id(handle)) }
    public var eosID: Int32? { nonNegative(spm_eos_id(handle)) }
    public var padID: Int32? { nonNegative(spm_pad_id(handle)) }
    public var unknownID: Int32 { spm_unk_id(handle) }

    /// Token ids of `text` (no BOS/EOS added).
    public func encode(_ text: String) -> [Int32] {
        var utf8 = Array(text.utf8)
        utf8.append(0)
        var ids = [Int32](repeating: 0, count: max(16, utf8.count + 8))
        let count = utf8.withUnsafeBufferPointer { text in
            text.baseAddress!.withMemoryRebound(to: CChar.self, capacity: text.count) { chars in
                spm_encode(handle, chars, text.count - 1, &ids, Int64(ids.count))
            }
        }
        precondition(count >= 0, "sentencepiece failed to encode")
        if Int(count) > ids.count {
            ids = [Int32](repeating: 0, count: Int(count))
            _ = utf8.withUnsafeBufferPointer { text in
                text.baseAddress!.withMemoryRebound(to: CChar.self, capacity: text.count) { chars in
                    spm_encode(handle, chars, text.count - 1, &ids, Int64(ids.count))
                }
            }
        }
        return Array(ids.prefix(Int(count)))
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

    /// The id of `piece`, or nil when the vocabulary lacks it.
    public func id(of piece: String) -> Int32? {
        let id = spm_piece_to_id(handle, piece)
        return id == unknownID && piece != self.piece(unknownID) ? nil : id
    }

    private func nonNegative(_ id: Int32) -> Int32? { id >= 0 ? id : nil }
}
