import Foundation

/// Unicode normalization of ordinary text, keeping track of where each normalized byte came from.
enum Normalization {
    /// NFC of `bytes` (UTF-8; its first byte at `base` in the whole text): the normalized bytes and,
    /// for each, the offset of the source byte it came from. Text already in NFC (nearly all)
    /// maps one to one; otherwise each extended grapheme cluster is normalized on its own and its
    /// bytes map to the start of the cluster they came from.
    static func nfc(_ bytes: ArraySlice<UInt8>, base: Int) -> PreToken {
        let text = String(decoding: bytes, as: UTF8.self)
        // (Swift's == compares canonically: NFD and NFC spellings are equal, so compare the bytes.)
        if text.precomposedStringWithCanonicalMapping.utf8.elementsEqual(bytes) {
            return PreToken(bytes: Array(bytes), offsets: Array(base..<(base + bytes.count)))
        }
        var out = PreToken(bytes: [], offsets: [])
        var offset = base
        for cluster in text {
            let source = String(cluster)
            let normalized = Array(source.precomposedStringWithCanonicalMapping.utf8)
            out.bytes += normalized
            out.offsets += Array(repeating: offset, count: normalized.count)
            offset += source.utf8.count
        }
        return out
    }
}
