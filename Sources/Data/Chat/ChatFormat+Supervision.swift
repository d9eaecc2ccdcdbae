import Foundation
import Tokenizer

extension ChatFormat {
    /// Tokenizes `text` in one call and marks tokens inside the `supervised` byte ranges;
    /// throws when a token straddles a range boundary or no token is supervised.
    public static func tokenize(text: String, supervised ranges: [Range<Int>], tokenizer: any TextTokenizer, bos: Int32?,
                                sampleName: String, template: String) throws -> Sample {
        let (ids, spans) = tokenizer.encodeWithOffsets(text)
        var tokens: [Int32] = bos.map { [$0] } ?? []
        var supervised = bos.map { _ in [false] } ?? []
        for (id, span) in zip(ids, spans) {
            var inside = false
            for r in ranges {
                if span.isEmpty ? (span.lowerBound > r.lowerBound && span.lowerBound < r.upperBound) : (span.lowerBound >= r.lowerBound && span.upperBound <= r.upperBound) {
                    inside = true
                } else if !span.isEmpty && span.lowerBound < r.upperBound && span.upperBound > r.lowerBound {
                    let piece = tokenizer.piece(id)
                    throw DataError("""
                        \(sampleName): tokenization mismatch: token '\(piece)' (bytes \(span.lowerBound)..<\(span.upperBound)) \
                        crosses the boundary of a supervised span (\(r.lowerBound)..<\(r.upperBound)), so labels would not line up. \
                        Sample as rendered by the '\(template)' template:
                        \(text)
                        """)
                }
            }
            tokens.append(id)
            supervised.append(inside)
        }
        if !ranges.isEmpty && !supervised.contains(true) {
            throw DataError("\(sampleName): tokenization mismatch: no token falls inside the assistant text, the sample would train nothing. Sample:\n\(text)")
        }
        return Sample(tokens: tokens, supervised: supervised)
    }
}
