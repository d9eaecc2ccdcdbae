import CSentencePiece
import Foundation
import Support

/// One libsentencepiece processor: a loaded ModelProto and its encoder and decoder.
final class SentencePieceProcessor: @unchecked Sendable {
    private let handle: OpaquePointer

    /// Loads a serialized ModelProto; `path` names it in messages.
    init(data: Data, path: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let loaded = data.withUnsafeBytes { raw in
            spm_load_from_bytes(raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, &message)
        }
        guard let h = loaded else {
            let reason = message.map { String(cString: $0) } ?? "unknown error"
            spm_free_string(message)
            throw TokenizerError("\(path): not a SentencePiece model (\(excerpt(reason, limit: 120)))")
        }
        handle = h
    }

    deinit { spm_free(handle) }

    var vocabularySize: Int { Int(spm_vocab_size(handle)) }
    var bosID: Int32 { spm_bos_id(handle) }
    var eosID: Int32 { spm_eos_id(handle) }
    var padID: Int32 { spm_pad_id(handle) }
    var unknownID: Int32 { spm_unk_id(handle) }

    /// The ids of UTF-8 `bytes` and each piece's byte range in them, shifted by `base`
    /// (SentencePiece's alignment through normalization; empty for a piece that covers no byte).
    func encode(_ bytes: ArraySlice<UInt8>, base: Int = 0) -> (ids: [Int32], ranges: [Range<Int>]) {
        var capacity = max(16, bytes.count + 8)
        while true {
            var ids = [Int32](repeating: 0, count: capacity)
            var begins = [UInt32](repeating: 0, count: capacity), ends = begins
            let count = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    spm_encode_with_offsets(handle, chars.baseAddress, chars.count, &ids, &begins, &ends, Int64(capacity))
                }
            }
            precondition(count >= 0, "sentencepiece failed to encode")
            if Int(count) <= capacity {
                let n = Int(count)
                return (Array(ids.prefix(n)), (0..<n).map { base + Int(begins[$0])..<base + max(Int(begins[$0]), Int(ends[$0])) })
            }
            capacity = Int(count)
        }
    }

    /// Text of `ids`, as SentencePiece decodes it (control tokens vanish, byte pieces join into UTF-8).
    func decode(_ ids: [Int32]) -> String {
        guard let text = ids.withUnsafeBufferPointer({ spm_decode(handle, $0.baseAddress, Int64($0.count)) }) else { return "" }
        defer { spm_free_string(text) }
        return String(cString: text)
    }

    func piece(_ id: Int32) -> String {
        guard let text = spm_id_to_piece(handle, id) else { return "" }
        defer { spm_free_string(text) }
        return String(cString: text)
    }

    func isControl(_ id: Int32) -> Bool { spm_is_control(handle, id) != 0 }

    /// The id of `piece`, or nil when the vocabulary lacks it.
    func id(of piece: String) -> Int32? {
        let id = spm_piece_to_id(handle, piece)
        return id == unknownID && piece != self.piece(unknownID) ? nil : id
    }
}
