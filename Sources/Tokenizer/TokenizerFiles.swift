import Foundation

/// The tokenizer files of a Hugging Face-style model directory, and loading whichever it has.
public enum TokenizerFiles {
    /// A SentencePiece model (LLaMA-2, TinyLlama, Vicuna, this project's own).
    public static let sentencePiece = "tokenizer.model"
    /// A `tokenizers` file (Qwen2, LLaMA-3, SmolLM: byte-level BPE).
    public static let json = "tokenizer.json"
    public static let config = "tokenizer_config.json"
    public static let specialTokensMap = "special_tokens_map.json"
    /// The chat template as transformers 5 saves it (older versions keep it in `config`).
    public static let chatTemplate = "chat_template.jinja"

    /// The tokenizer of model directory `directory`: its `tokenizer.model` when it has one (a
    /// directory with both, as LLaMA-2's, is SentencePiece exactly), else its `tokenizer.json`.
    public static func load(directory: String) throws -> any TextTokenizer {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory + "/" + sentencePiece) {
            return try SentencePieceTokenizer(path: directory + "/" + sentencePiece, config: TokenizerConfig(directory: directory))
        }
        if fm.fileExists(atPath: directory + "/" + json) { return try ByteLevelBPETokenizer(path: directory + "/" + json) }
        throw TokenizerError("\(directory): no tokenizer (\(sentencePiece) or \(json))")
    }

    /// A tokenizer file (a SentencePiece `.model` or a `tokenizer.json`) or a model directory.
    public static func load(path: String) throws -> any TextTokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw TokenizerError("\(path): file not found") }
        if isDirectory.boolValue { return try load(directory: path) }
        if path.hasSuffix(".json") { return try ByteLevelBPETokenizer(path: path) }
        let directory = (path as NSString).deletingLastPathComponent
        return try SentencePieceTokenizer(path: path, config: TokenizerConfig(directory: directory.isEmpty ? "." : directory))
    }

    /// Whether `directory` holds a tokenizer.
    public static func present(in directory: String) -> Bool {
        [sentencePiece, json].contains { FileManager.default.fileExists(atPath: directory + "/" + $0) }
    }
}
