import Foundation
import TestSupport
import Testing
import Tokenizer

/// `tokenizer.json` byte-level BPE against the `tokenizers` library itself
/// (scripts/fixtures/make_hf_fixtures.py: a BPE trained as Qwen2's is built).
struct ByteLevelBPETests {
    struct Cut: Decodable { let ids: [Int32]; let decoded: String }

    struct Fixture: Decodable {
        let cases: [TokenizerCase]
        let cut: [Cut]
        let vocabularySize: Int
        enum CodingKeys: String, CodingKey { case cases, cut, vocabularySize = "vocabulary_size" }
    }

    static let directory = TestPaths.fixture("hf/qwen2-tiny")

    /// The three layouts: Qwen2's (NFC, its Split regex), LLaMA-3's (digits in threes,
    /// ignore_merges, BOS from the post-processor), SmolLM's (Digits, then ByteLevel's GPT-2 regex).
    static let layouts = [("qwen2-tiny", "tokenizer_cases.json"), ("llama3-tiny", "llama3_tokenizer_cases.json"),
                          ("smollm-tokenizer", "smollm_tokenizer_cases.json")]

    static func fixture(_ file: String) throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("hf/" + file))))
    }

    func tokenizer() throws -> any TextTokenizer { try TokenizerFiles.load(directory: Self.directory) }

    /// Every string (ASCII, accents and decomposed accents, CJK, Arabic, Cyrillic, Devanagari,
    /// emoji with modifiers and ZWJ, runs of spaces and newlines, \v, NEL, digits and other
    /// numerals, contractions, special tokens inline) encodes to the ids `tokenizers` gives, and
    /// `tokenizer(text)` prepends what it prepends (LLaMA-3's BOS; nothing for Qwen2 and SmolLM).
    @Test(arguments: layouts) func encodingEqualsTokenizers(directory: String, cases: String) throws {
        let t = try TokenizerFiles.load(directory: TestPaths.fixture("hf/" + directory)), fixture = try Self.fixture(cases)
        #expect(t is ByteLevelBPETokenizer && fixture.cases.count >= 40)
        for c in fixture.cases {
            #expect(t.encode(c.text) == c.ids, "\(directory): \(c.text.debugDescription)")
            #expect(t.bosPrefix + t.encode(c.text) == c.withSpecialTokens, "\(directory): \(c.text.debugDescription)")
        }
        #expect(t.vocabularySize == fixture.vocabularySize)
        #expect((t.bosID == nil) == (directory != "llama3-tiny"))
    }

    @Test func specialTokensComeFromTheConfig() throws {
        let t = try tokenizer()
        #expect(t.eosID == t.id(of: "<|im_end|>") && t.padID == t.id(of: "<|endoftext|>") && t.bosID == nil)
    }

    /// Decoding equals `tokenizers`', byte sequences cut inside a character included (U+FFFD as Python's errors="replace").
    @Test(arguments: layouts) func decodingEqualsTokenizers(directory: String, cases: String) throws {
        let t = try TokenizerFiles.load(directory: TestPaths.fixture("hf/" + directory)), fixture = try Self.fixture(cases)
        for c in fixture.cases { #expect(t.decode(c.ids) == c.decoded, "\(directory): \(c.text.debugDescription)") }
        #expect(!fixture.cut.isEmpty)
        for c in fixture.cut { #expect(t.decode(c.ids) == c.decoded, "\(directory): \(c.ids)") }
    }

    /// Offsets: each token's byte range lies in the text, in order, and a token's bytes are the text's
    /// bytes there (text already in NFC).
    @Test func offsetsPointIntoTheText() throws {
        let t = try tokenizer()
        for text in ["Hello, world!", "Rubok是一只猫。", "<|im_start|>user\nhi<|im_end|>", "a    b\n\nc", "emoji 😀👍🏽"] {
            let (ids, ranges) = t.encodeWithOffsets(text)
            #expect(ids.count == ranges.count)
            let bytes = Array(text.utf8)
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == bytes.count, "\(text)")
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound <= $1.lowerBound || $0 == $1 }, "\(text): \(ranges)")
            #expect(t.decode(ids) == text)
        }
    }

    /// Special tokens added for a recipe (`<image>`) get the next ids, encode as one id each and
    /// survive saving and loading.
    @Test func addedSpecialTokensSurviveSaving() throws {
        let t = try tokenizer()
        let grown = try t.addingSpecialTokens(["<image>", "<|im_end|>", "<en>"])
        #expect(grown.vocabularySize == t.vocabularySize + 2)
        #expect(grown.id(of: "<image>") == Int32(t.vocabularySize) && grown.id(of: "<en>") == Int32(t.vocabularySize + 1))
        #expect(grown.encode("<image>\nWhat is it?").first == Int32(t.vocabularySize))
        let dir = TestPaths.temporaryDirectory("bpe")
        try grown.save(into: dir)
        let loaded = try TokenizerFiles.load(directory: dir)
        #expect(loaded.vocabularySize == grown.vocabularySize && loaded.encode("x <en> y") == grown.encode("x <en> y"))
        #expect(loaded.eosID == t.eosID && loaded.padID == t.padID)
    }
}
