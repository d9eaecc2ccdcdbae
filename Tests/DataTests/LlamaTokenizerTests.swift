import Foundation
import TestSupport
import Testing
import Tokenizer

/// A SentencePiece `tokenizer.model` in a Hugging Face directory against transformers'
/// `LlamaTokenizer` itself (scripts/fixtures/make_hf_fixtures.py: a BPE model trained as
/// LLaMA-2's, saved with `save_pretrained`).
struct LlamaTokenizerTests {
    struct Fixture: Decodable {
        let cases: [TokenizerCase]
        let vocabularySize: Int
        enum CodingKeys: String, CodingKey { case cases, vocabularySize = "vocabulary_size" }
    }

    static let directory = TestPaths.fixture("hf/llama-tiny")
    static let fixture: Fixture = try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("hf/llama_tokenizer_cases.json"))))

    /// Every string encodes to transformers' ids: special tokens inline (`<s>`, `</s>`, `<unk>`)
    /// as single ids, the dummy prefix only at the start of the text and only when it does not
    /// begin with a space; `tokenizer(text)` prepends BOS (`add_bos_token` defaults to true).
    @Test func encodingEqualsTransformers() throws {
        let t = try TokenizerFiles.load(directory: Self.directory)
        #expect(t is SentencePieceTokenizer && Self.fixture.cases.count >= 40)
        for c in Self.fixture.cases {
            #expect(t.encode(c.text) == c.ids, "\(c.text.debugDescription)")
            #expect((t.bosID.map { [$0] } ?? []) + t.encode(c.text) == c.withSpecialTokens, "\(c.text.debugDescription)")
        }
        #expect(t.vocabularySize == Self.fixture.vocabularySize && t.bosID == 1 && t.eosID == 2)
    }

    /// Decoding equals transformers' (special tokens as text, one leading space dropped).
    @Test func decodingEqualsTransformers() throws {
        let t = try TokenizerFiles.load(directory: Self.directory)
        for c in Self.fixture.cases { #expect(t.decode(c.ids) == c.decoded, "\(c.text.debugDescription)") }
    }

    /// The same model without its Hugging Face files encodes as SentencePiece alone does (this
    /// project's own checkpoints): special-token text is not matched, and a dummy prefix always.
    @Test func aloneItIsSentencePieceExactly() throws {
        let alone = try SentencePieceTokenizer(path: Self.directory + "/tokenizer.model")
        let hf = try TokenizerFiles.load(directory: Self.directory)
        #expect(alone.encode("<s>hi") != hf.encode("<s>hi") && alone.encode("hello world") == hf.encode("hello world"))
        #expect(alone.encode("  leading") != hf.encode("  leading") && alone.decode(alone.encode("<s>hi")) == "<s>hi")
    }

    /// Saving keeps the Hugging Face files, so a checkpoint trained from the directory encodes as it did.
    @Test func savingKeepsTheRules() throws {
        let t = try TokenizerFiles.load(directory: Self.directory).addingSpecialTokens(["<image>"])
        let dir = TestPaths.temporaryDirectory("llama-tokenizer")
        try t.save(into: dir)
        let loaded = try TokenizerFiles.load(directory: dir)
        for c in Self.fixture.cases { #expect(loaded.encode(c.text) == t.encode(c.text)) }
        #expect(loaded.configuration.chatTemplate == t.configuration.chatTemplate && loaded.configuration.chatTemplate != nil)
        #expect(loaded.encode("<image>\nhi").first == loaded.id(of: "<image>"))
    }
}
