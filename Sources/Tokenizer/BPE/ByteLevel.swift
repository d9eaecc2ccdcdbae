/// GPT-2's byte-to-character map, which byte-level BPE vocabularies are written in: every byte
/// becomes one printable character (the printable Latin-1 bytes themselves, the others
/// U+0100 + n in byte order), so any byte string is a string of vocabulary characters.
enum ByteLevel {
    /// The character (one Unicode scalar) of each byte.
    static let scalars: [Unicode.Scalar] = {
        let printable = Set(Array(UInt8(ascii: "!")...UInt8(ascii: "~")) + Array(0xA1...0xAC) + Array(0xAE...0xFF))
        var map = [Unicode.Scalar](repeating: " ", count: 256), n: UInt32 = 0
        for b in 0..<256 {
            if printable.contains(UInt8(b)) { map[b] = Unicode.Scalar(UInt8(b)) } else { map[b] = Unicode.Scalar(256 + n)!; n += 1 }
        }
        return map
    }()

    /// The byte of each map character.
    static let bytes: [Unicode.Scalar: UInt8] = Dictionary(uniqueKeysWithValues: scalars.enumerated().map { ($1, UInt8($0)) })

    /// `bytes` as map characters.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalars[Int(b)]) }
        return String(s)
    }

    /// The bytes a vocabulary entry stands for: its characters through the map when they all are
    /// map characters, else its own UTF-8 (an added token such as `<|im_end|>` in CJK), as the
    /// `tokenizers` ByteLevel decoder does.
    static func decode(_ token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for c in token.unicodeScalars {
            guard let b = bytes[c] else { return Array(token.utf8) }
            out.append(b)
        }
        return out
    }
}
