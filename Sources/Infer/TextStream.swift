import Tokenizer

/// Decodes a growing sequence of tokens into text as it grows: each token returns the text it
/// adds. The whole sequence is decoded every time (SentencePiece joins byte pieces and drops a
/// word's leading space only in context), and text is released only once it no longer changes.
public struct TextStream {
    let tokenizer: any TextTokenizer
    private var ids: [Int32]
    /// The text released so far.
    public private(set) var text: String

    /// Starts from `ids` (the prompt, without BOS); `text` is their decoding.
    public init(_ tokenizer: any TextTokenizer, ids: [Int32]) {
        self.tokenizer = tokenizer
        self.ids = ids
        text = tokenizer.decode(ids)
    }

    /// Adds `token`; returns the text it releases (empty while the decoding's end is still moving).
    public mutating func append(_ token: Int32) -> String {
        ids.append(token)
        return release()
    }

    /// The rest of the text at the end of generation.
    public mutating func finish() -> String { release() }

    /// The text `new` adds after `prompt` (decoded together, so pieces that join across the
    /// boundary read right).
    public static func completion(_ tokenizer: any TextTokenizer, prompt: [Int32], new: [Int32]) -> String {
        let full = tokenizer.decode(prompt + new), promptText = tokenizer.decode(prompt)
        return full.hasPrefix(promptText) ? String(full.dropFirst(promptText.count)) : tokenizer.decode(new)
    }

    private mutating func release() -> String {
        let decoded = tokenizer.decode(ids)
        guard decoded.hasPrefix(text) else { return "" }
        defer { text = decoded }
        return String(decoded.dropFirst(text.count))
    }
}
