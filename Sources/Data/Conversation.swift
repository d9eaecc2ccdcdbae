import Foundation
import Tokenizer

/// One turn of a LLaVA-style conversation (`from`: human or gpt; `system` is also accepted).
public struct Turn: Sendable, Equatable {
    public enum Role: String, Sendable { case system, human, gpt }
    public let role: Role
    public let value: String
    public init(_ role: Role, _ value: String) { self.role = role; self.value = value }
}

/// A tokenized training example: `tokens` with, per token, whether it is a prediction
/// target (`supervised`). The loss is on supervised tokens only.
public struct Sample: Sendable, Equatable {
    public var tokens: [Int32]
    public var supervised: [Bool]
    /// Index of the sample's image in its dataset's preprocessed images.
    public var image: Int?

    public init(tokens: [Int32], supervised: [Bool], image: Int? = nil) {
        precondition(tokens.count == supervised.count)
        self.tokens = tokens
        self.supervised = supervised
        self.image = image
    }
}

/// How a conversation becomes text, and which bytes of it carry the loss.
///
/// - `chatml` (Qwen, Wings): `<|im_start|>{role}\n{text}<|im_end|>\n` per turn, roles
///   system/user/assistant; the loss is on each assistant reply and its `<|im_end|>`.
/// - `plain` (LLaVA stage 1): the human text, then the reply and `\n`; the loss is on the reply and `\n`.
public enum ChatTemplate: String, Codable, Sendable, CaseIterable {
    case chatml, plain

    /// The rendered text and the UTF-8 byte ranges of the supervised parts.
    public func render(_ turns: [Turn], system: String? = nil) -> (text: String, supervised: [Range<Int>]) {
        var text = "", ranges: [Range<Int>] = []
        func append(_ s: String, supervised: Bool) {
            let start = text.utf8.count
            text += s
            if supervised { ranges.append(start..<text.utf8.count) }
        }
        switch self {
        case .chatml:
            let open = SpecialTokens.turnStart, close = SpecialTokens.turnEnd
            if let system, !turns.contains(where: { $0.role == .system }) { append("\(open)system\n\(system)\(close)\n", supervised: false) }
            for t in turns {
                switch t.role {
                case .system: append("\(open)system\n\(t.value)\(close)\n", supervised: false)
                case .human: append("\(open)user\n\(t.value)\(close)\n", supervised: false)
                case .gpt:
                    append("\(open)assistant\n", supervised: false)
                    append(t.value + close, supervised: true)
                    append("\n", supervised: false)
                }
            }
        case .plain:
            for t in turns {
                switch t.role {
                case .system: continue
                case .human: append(t.value.hasSuffix("\n") || t.value.hasSuffix(SpecialTokens.image) ? t.value : t.value + "\n", supervised: false)
                case .gpt: append(t.value + "\n", supervised: true)
                }
            }
        }
        return (text, ranges)
    }

    /// The text a model continues to answer `user`: the user's turn and, for ChatML, the opening
    /// of the assistant's (`<|im_start|>assistant\n`). Evaluation and inference frame prompts so.
    public func generationPrompt(_ user: String, system: String? = nil) -> String {
        let text = render([Turn(.human, user)], system: system).text
        return self == .chatml ? text + SpecialTokens.turnStart + "assistant\n" : text
    }

    /// Tokenizes a conversation: BOS, then the rendered text in one `encode` call, with each
    /// token supervised when its bytes lie inside a supervised range. A token that straddles
    /// a range boundary means the labels would not line up with the text (LLaVA's silent
    /// "tokenization mismatch"): that is an error showing the sample.
    public func tokenize(_ turns: [Turn], system: String? = nil, tokenizer: any TextTokenizer, bos: Int32?,
                         sampleName: String) throws -> Sample {
        let (text, ranges) = render(turns, system: system)
        return try Self.tokenize(text: text, supervised: ranges, tokenizer: tokenizer, bos: bos, sampleName: sampleName, template: rawValue)
    }

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
