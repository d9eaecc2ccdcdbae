/// A `tokenizer.json` added token: special tokens (`<|im_end|>`) and tokens added to the
/// vocabulary, each one id, matched in the raw text before anything else.
struct AddedToken: Sendable, Equatable {
    let id: Int32
    let content: String
    let special: Bool
    /// Swallow the whitespace to the left / right of a match.
    let lstrip: Bool
    let rstrip: Bool
    /// Match only where it is not part of a longer word.
    let singleWord: Bool
    let normalized: Bool
}

/// Finds added tokens in a text, leftmost first and the longest at a position, as the
/// `tokenizers` AddedVocabulary does; what lies between them is left to the BPE.
struct AddedTokenMatcher: Sendable {
    let tokens: [AddedToken]
    /// By first byte, the tokens starting with it, longest first.
    private let byFirstByte: [UInt8: [(bytes: [UInt8], token: AddedToken)]]

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens
        var table: [UInt8: [(bytes: [UInt8], token: AddedToken)]] = [:]
        for t in tokens where !t.content.isEmpty {
            let bytes = Array(t.content.utf8)
            table[bytes[0], default: []].append((bytes, t))
        }
        byFirstByte = table.mapValues { $0.sorted { $0.bytes.count > $1.bytes.count } }
    }

    /// A piece of the text: an added token, or a run of ordinary text (UTF-8 byte range).
    enum Piece: Equatable {
        case added(Int32, Range<Int>)
        case text(Range<Int>)
    }

    func split(_ text: [UInt8]) -> [Piece] {
        guard !byFirstByte.isEmpty else { return text.isEmpty ? [] : [.text(0..<text.count)] }
        var pieces: [Piece] = [], textStart = 0, i = 0
        while i < text.count {
            guard let (length, token) = match(text, at: i) else { i += 1; continue }
            var start = i, end = i + length
            if token.lstrip { while start > textStart && Self.isSpace(text[start - 1]) { start -= 1 } }
            if token.rstrip { while end < text.count && Self.isSpace(text[end]) { end += 1 } }
            if start > textStart { pieces.append(.text(textStart..<start)) }
            pieces.append(.added(token.id, start..<end))
            textStart = end
            i = end
        }
        if textStart < text.count { pieces.append(.text(textStart..<text.count)) }
        return pieces
    }

    private func match(_ text: [UInt8], at i: Int) -> (Int, AddedToken)? {
        guard let candidates = byFirstByte[text[i]] else { return nil }
        for (bytes, token) in candidates where i + bytes.count <= text.count && text[i..<(i + bytes.count)].elementsEqual(bytes) {
            if token.singleWord && (i > 0 && Self.isWord(text[i - 1]) || i + bytes.count < text.count && Self.isWord(text[i + bytes.count])) {
                continue
            }
            return (bytes.count, token)
        }
        return nil
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
    static func isWord(_ b: UInt8) -> Bool { b >= 0x80 || (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x5F }
}
