import Foundation
import TestSupport
import Testing
import Tokenizer

/// Swift token ids equal those of the Python `sentencepiece` package
/// (scripts/fixtures/make_tokenizer_fixture.py), and special tokens added through the
/// ModelProto encode as one id each.
struct TokenizerTests {
    struct Entry: Decodable { let text: String; let ids: [Int32] }

    func fixture(_ model: String) throws -> [Entry] {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("tokenizer/ids.json")))
        return try JSONDecoder().decode([String: [Entry]].self, from: data)[model] ?? []
    }

    static let tok512 = TestPaths.shared + "/models/stories260K/tok512.model"
    static let toyworld = TestPaths.root + "/tokenizers/toyworld.model"

    @Test(.enabled(if: TestPaths.sharedAvailable, "../shared absent: skipping the tok512 parity test"))
    func tok512MatchesPythonSentencePiece() throws {
        let t = try SentencePieceTokenizer(path: Self.tok512)
        let entries = try fixture("tok512")
        #expect(entries.count >= 5)
        for e in entries { #expect(t.encode(e.text) == e.ids, "\(e.text)") }
        #expect(t.bosID == 1 && t.eosID == 2 && t.vocabularySize == 512)
    }

    @Test func toyWorldMatchesPythonSentencePiece() throws {
        let t = try SentencePieceTokenizer(path: Self.toyworld)
        for e in try fixture("toyworld") { #expect(t.encode(e.text) == e.ids, "\(e.text)") }
    }

    @Test func projectTokenizerHasEverySpecialToken() throws {
        let t = try SentencePieceTokenizer(path: Self.toyworld)
        for s in SpecialTokens.all {
            let ids = t.encode(s)
            #expect(ids.count == 1 || (ids.count == 2 && t.piece(ids[0]) == "▁"), "\(s) -> \(ids.map(t.piece))")
            #expect(ids.last == t.id(of: s))
        }
        #expect(t.padID == 3)
    }

    @Test(.enabled(if: TestPaths.sharedAvailable, "../shared absent: skipping the tok512 ModelProto test"))
    func addedPiecesEncodeAsOneIdAndSurviveSaving() throws {
        let base = try SentencePieceTokenizer(path: Self.tok512)
        let extended = try base.addingPieces(["<image>", "<|im_end|>", "<image>"])
        #expect(extended.vocabularySize == 514, "the duplicate is added once")
        #expect(extended.id(of: "<image>") == 512 && extended.id(of: "<|im_end|>") == 513)
        let text = "Lily saw<image>a dog.<|im_end|>"
        let ids = extended.encode(text)
        #expect(ids.filter { $0 == 512 }.count == 1 && ids.filter { $0 == 513 }.count == 1)
        #expect(extended.decode(ids) == text)
        // Ordinary text still encodes exactly as before.
        #expect(extended.encode("Once upon a time") == base.encode("Once upon a time"))
        let path = TestPaths.temporaryDirectory("tok") + "/extended.model"
        try extended.save(to: path)
        let reloaded = try SentencePieceTokenizer(path: path)
        #expect(reloaded.encode(text) == ids && reloaded.vocabularySize == 514)
    }

    @Test func offsetsCoverTheText() throws {
        let t = try SentencePieceTokenizer(path: Self.toyworld)
        let text = "Bamor住在Velora。<|im_end|>"
        let (ids, ranges) = t.encodeWithOffsets(text)
        #expect(ids.count == ranges.count)
        let bytes = Array(text.utf8)
        let end = ranges.last!.upperBound
        #expect(end == bytes.count)
        #expect(String(decoding: bytes[ranges.last!], as: UTF8.self) == "<|im_end|>")
    }

    @Test func missingOrCorruptModelIsAClearError() throws {
        #expect(throws: TokenizerError.self) { try SentencePieceTokenizer(path: "/nonexistent/tok.model") }
        let path = TestPaths.temporaryDirectory("tok") + "/bad.model"
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try SentencePieceTokenizer(path: path)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(path))
        }
    }
}
