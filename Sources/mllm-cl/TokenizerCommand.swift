import ArgumentParser
import Tokenizer

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Inspect tokenizers (tokenizer.model, tokenizer.json) or extend SentencePiece models.",
        subcommands: [AddTokens.self, Encode.self]
    )

    struct AddTokens: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-tokens",
            abstract: "Append USER_DEFINED pieces to a SentencePiece model (by editing its ModelProto).",
            discussion: "Without --tokens, adds the project's special tokens: <image>, <|im_start|>, <|im_end|> and the language tags <en> <zh> <pt> <ar> <tr> <ru>."
        )

        @Argument(help: "The SentencePiece model to extend.") var model: String
        @Option(help: "Where to write the extended model.") var out: String
        @Option(help: "Comma-separated pieces to add.") var tokens: String?

        func run() throws {
            try runReportingErrors {
                let pieces = tokens.map { $0.split(separator: ",").map(String.init) } ?? SpecialTokens.all
                let base = try SentencePieceTokenizer(path: model)
                let extended = try base.addingPieces(pieces)
                try extended.save(to: out)
                print("wrote \(out): \(base.vocabularySize) -> \(extended.vocabularySize) pieces")
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the ids and pieces of a text.",
            discussion: "The ids of the text alone (no BOS/EOS, no template) on the first line, the pieces on the second."
        )

        @Option(help: "A tokenizer.json, a SentencePiece .model, or a model directory (with its tokenizer_config.json).") var model: String
        @Argument(help: "Text to encode.") var text: String

        func run() throws {
            try runReportingErrors {
                let t = try TokenizerFiles.load(path: model)
                let ids = t.encode(text)
                print(ids.map(String.init).joined(separator: " "))
                print(ids.map { t.piece($0) }.joined(separator: " "))
            }
        }
    }
}
