import Foundation
import SwiftProtobuf

/// The special tokens the multimodal stages rely on. Each must encode as one id, so they
/// are added to a SentencePiece model as USER_DEFINED pieces (which the encoder never splits).
public enum SpecialTokens {
    /// Replaced by an image's visual tokens.
    public static let image = "<image>"
    /// ChatML turn markers (Qwen / Wings).
    public static let turnStart = "<|im_start|>"
    public static let turnEnd = "<|im_end|>"
    /// Language tags (Parrot's six languages).
    public static let languages = ["en", "zh", "pt", "ar", "tr", "ru"]
    public static func languageTag(_ code: String) -> String { "<\(code)>" }

    /// Everything a multimodal, multilingual stage needs.
    public static let all: [String] = [image, turnStart, turnEnd] + languages.map(languageTag)
}

extension SentencePieceTokenizer {
    /// A tokenizer whose model also has `pieces` as USER_DEFINED pieces, appended after the
    /// existing vocabulary in the given order (pieces already present are left as they are).
    /// Edits the ModelProto through swift-protobuf; fields this project does not model
    /// (trainer and normalizer specs) are carried over byte for byte.
    public func addingPieces(_ pieces: [String]) throws -> SentencePieceTokenizer {
        var model: Sentencepiece_ModelProto
        do {
            model = try Sentencepiece_ModelProto(serializedBytes: modelData)
        } catch {
            throw TokenizerError("\(path): cannot parse the SentencePiece ModelProto (\(error))")
        }
        var present = Set(model.pieces.map(\.piece))
        for text in pieces where !present.contains(text) {
            guard !text.isEmpty else { throw TokenizerError("\(path): an added piece must not be empty") }
            var piece = Sentencepiece_ModelProto.SentencePiece()
            piece.piece = text
            piece.score = 0
            piece.type = .userDefined
            model.pieces.append(piece)
            present.insert(text)
        }
        let data: Data = try model.serializedBytes()
        return try SentencePieceTokenizer(data: data, path: path, config: configuration)
    }
}
