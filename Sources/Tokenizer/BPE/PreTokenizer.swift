import Foundation

/// A span of the text being tokenized: its UTF-8 bytes and where they start in the (normalized)
/// text; a prepended space (`add_prefix_space`) has no source and starts at -1.
struct PreToken {
    var bytes: [UInt8]
    /// Offset in the normalized text of each byte (-1: inserted).
    var offsets: [Int]
}

/// The `tokenizers` pre-tokenizers byte-level BPE uses, applied in order to every span:
///
/// - `Split(pattern, behavior: Isolated)`: each regex match and each run between matches becomes a span;
/// - `Digits(individual_digits)`: runs of numeric characters (Unicode N*, as Rust's
///   `char::is_numeric`) isolated, or each one alone;
/// - `ByteLevel(add_prefix_space, use_regex)`: optionally a leading space, optionally GPT-2's split.
///
/// The regex runs as ICU does (`NSRegularExpression`: `\p{L}`, `\p{N}`, `(?i:…)`, lookahead),
/// over Unicode scalars, as the Oniguruma regex of `tokenizers` does.
enum PreTokenizerStep {
    case split(NSRegularExpression)
    case digits(individually: Bool)
    case byteLevel(addPrefixSpace: Bool, split: NSRegularExpression?)

    /// GPT-2's pattern, which `ByteLevel(use_regex: true)` applies.
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// `spans` after this step.
    func apply(_ spans: [PreToken]) -> [PreToken] {
        switch self {
        case .split(let regex):
            return spans.flatMap { Self.split($0, regex) }
        case .digits(let individually):
            return spans.flatMap { Self.digits($0, individually: individually) }
        case .byteLevel(let addPrefixSpace, let regex):
            return spans.flatMap { span -> [PreToken] in
                var s = span
                if addPrefixSpace && s.bytes.first != UInt8(ascii: " ") {
                    s.bytes.insert(UInt8(ascii: " "), at: 0)
                    s.offsets.insert(-1, at: 0)
                }
                return regex.map { Self.split(s, $0) } ?? [s]
            }
        }
    }

    /// Numeric characters isolated from the rest: a run of them one span, or each its own.
    static func digits(_ span: PreToken, individually: Bool) -> [PreToken] {
        var out: [PreToken] = [], start = 0, offset = 0, previousNumeric: Bool?
        for scalar in String(decoding: span.bytes, as: UTF8.self).unicodeScalars {
            let numeric = [.decimalNumber, .letterNumber, .otherNumber].contains(scalar.properties.generalCategory)
            if let previous = previousNumeric, previous != numeric || (numeric && individually) {
                out.append(PreToken(bytes: Array(span.bytes[start..<offset]), offsets: Array(span.offsets[start..<offset])))
                start = offset
            }
            previousNumeric = numeric
            offset += scalar.utf8.count
        }
        if offset > start { out.append(PreToken(bytes: Array(span.bytes[start..<offset]), offsets: Array(span.offsets[start..<offset]))) }
        return out
    }

    /// Matches and the gaps between them, in order (`Isolated`), empty spans dropped.
    static func split(_ span: PreToken, _ regex: NSRegularExpression) -> [PreToken] {
        let text = String(decoding: span.bytes, as: UTF8.self)
        // UTF-16 offset (NSRegularExpression's) → UTF-8 offset, at every scalar boundary.
        var utf8At = [Int](repeating: 0, count: text.utf16.count + 1)
        var u16 = 0, u8 = 0
        for scalar in text.unicodeScalars {
            utf8At[u16] = u8
            u16 += scalar.utf16.count
            u8 += scalar.utf8.count
        }
        utf8At[u16] = u8
        var cuts: [Int] = [0]  // UTF-8 offsets in `text`
        for m in regex.matches(in: text, range: NSRange(location: 0, length: u16)) where m.range.length > 0 {
            cuts.append(utf8At[m.range.location])
            cuts.append(utf8At[m.range.location + m.range.length])
        }
        cuts.append(span.bytes.count)
        var out: [PreToken] = []
        for (a, b) in zip(cuts, cuts.dropFirst()) where b > a {
            out.append(PreToken(bytes: Array(span.bytes[a..<b]), offsets: Array(span.offsets[a..<b])))
        }
        return out
    }
}
