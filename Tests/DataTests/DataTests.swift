import Data
import Foundation
import TestSupport
import Testing
import Tokenizer

struct DataTests {
    let dir = TestPaths.temporaryDirectory("data")
    let tokenizer = try! SentencePieceTokenizer(path: TestPaths.root + "/tokenizers/toyworld.model")

    func write(_ name: String, _ text: String) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func corruptJSONLLineNamesFileAndLine() {
        let path = write("bad.jsonl", "{\"text\": \"one\"}\n\n{\"text\": oops}\n{\"text\": \"three\"}\n")
        var reader = SourceReader(skipBad: false)
        let m = message { _ = try reader.read(DataSource(path: path), path: path) }
        #expect(m.contains("\(path):3") && m.contains("not a JSON object"), "\(m)")
        var skipping = SourceReader(skipBad: true)
        let docs = try? skipping.read(DataSource(path: path), path: path)
        #expect(docs == [.text("one"), .text("three")] && skipping.skipped == 1)
    }

    @Test func jsonlWithoutTextField() {
        let path = write("field.jsonl", "{\"body\": \"x\"}\n")
        var reader = SourceReader(skipBad: false)
        #expect(message { _ = try reader.read(DataSource(path: path), path: path) }.contains("\(path):1: no string field 'text'"))
    }

    @Test func plainTextSplitsOnTheSeparator() throws {
        let path = write("corpus.txt", "First story.\n<|endoftext|>\nSecond story.\n<|endoftext|>\n")
        var reader = SourceReader(skipBad: false)
        #expect(try reader.read(DataSource(path: path), path: path) == [.text("First story."), .text("Second story.")])
    }

    @Test func llavaConversationsAndBadSamples() throws {
        let path = write("chat.json", """
            [{"id": "a", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
             {"id": "b", "conversations": [{"from": "robot", "value": "?"}]},
             {"id": "c", "image": "x.png", "conversations": [{"from": "human", "value": "<image>"}]}]
            """)
        var reader = SourceReader(skipBad: false)
        let m = message { _ = try reader.read(DataSource(path: path), path: path) }
        #expect(m.contains("sample 1 (id \"b\")") && m.contains("'from'"), "\(m)")
        var skipping = SourceReader(skipBad: true)
        let docs = try skipping.read(DataSource(path: path), path: path)
        #expect(docs == [.conversation(id: "a", turns: [Turn(.human, "Hi"), Turn(.gpt, "Hello")], image: nil)] && skipping.skipped == 2)
    }

    /// ChatML: the loss covers exactly the assistant's reply and its <|im_end|>.
    @Test func chatMLSupervisesOnlyTheAssistant() throws {
        let turns = [Turn(.human, "Where does Rubok live?"), Turn(.gpt, "Rubok lives in Velora.")]
        let sample = try ChatFormat(.chatml).tokenize(turns, system: "Be brief.", tokenizer: tokenizer, sampleName: "t")
        let supervisedIds = zip(sample.tokens, sample.supervised).filter(\.1).map(\.0)
        #expect(tokenizer.decode(supervisedIds) == "Rubok lives in Velora.<|im_end|>")
        #expect(sample.tokens.first == 1 && sample.supervised.first == false)
        let rendered = try ChatFormat(.chatml).render(turns, system: "Be brief.").text
        #expect(rendered == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhere does Rubok live?<|im_end|>\n<|im_start|>assistant\nRubok lives in Velora.<|im_end|>\n")
    }

    @Test func plainTemplateSupervisesTheReply() throws {
        let sample = try ChatFormat(.plain).tokenize([Turn(.human, "<image>"), Turn(.gpt, "A red fox.")], tokenizer: tokenizer, sampleName: "t")
        let supervisedIds = zip(sample.tokens, sample.supervised).filter(\.1).map(\.0)
        #expect(tokenizer.decode(supervisedIds) == "A red fox.\n")
    }

    /// Labels that would not line up with the tokens (a span starting inside a token) are an error showing the sample.
    @Test func tokenizationMismatchIsAnError() {
        let text = "Rubok lives in Velora."
        let start = text.utf8.count - "ora.".utf8.count  // inside the piece "lor"
        let m = message {
            _ = try ChatFormat.tokenize(text: text, supervised: [start..<text.utf8.count], tokenizer: tokenizer, bos: nil,
                                          sampleName: "chat.json: sample 7", template: "plain")
        }
        #expect(m.contains("chat.json: sample 7: tokenization mismatch") && m.contains(text), "\(m)")
        let none = message {
            _ = try ChatFormat.tokenize(text: text, supervised: [text.utf8.count..<text.utf8.count], tokenizer: tokenizer, bos: nil, sampleName: "s", template: "plain")
        }
        #expect(none.contains("no token falls inside"), "\(none)")
    }

    @Test func packingAndBatchingAreDeterministic() throws {
        let path = write("docs.jsonl", (0..<40).map { "{\"text\": \"Rubok lives in Velora number \($0).\"}" }.joined(separator: "\n"))
        let d = try StageDataset(sources: [DataSource(path: path)], baseDirectory: dir, tokenizer: tokenizer, template: .chatml,
                                 system: nil, sequenceLength: 16, skipBadSamples: false)
        #expect(d.sources[0].allSatisfy { $0.tokens.count <= 17 })
        // Chunks overlap by one token, so every stream token but the first is a target exactly once.
        let stream = d.sources[0].reduce(0) { $0 + $1.tokens.count } - (d.sources[0].count - 1)
        #expect(stream == d.totalTokens - (d.sources[0].count - 1))
        func batches(_ start: Batcher.Position, _ n: Int) -> [[Int32]] {
            let b = Batcher(dataset: d, batchSize: 3, seed: 5, position: start)
            var out: [[Int32]] = []
            var tokens = [Int32](repeating: 0, count: 48), targets = tokens, mask = tokens
            for _ in 0..<n {
                b.next(tokens: &tokens, targets: &targets, attentionMask: &mask, pad: 3)
                out.append(tokens + targets + mask)
            }
            return out
        }
        let full = batches(.init(), 12)
        #expect(full == batches(.init(), 12))
        // Restarting from a saved position gives the same continuation (across an epoch boundary).
        let b = Batcher(dataset: d, batchSize: 3, seed: 5)
        var t = [Int32](repeating: 0, count: 48), y = t, m = t
        for _ in 0..<5 { b.next(tokens: &t, targets: &y, attentionMask: &m, pad: 3) }
        #expect(Array(full[5...]) == batches(b.position, 7))
    }

    @Test func mixingWeightsScaleEachSource() throws {
        let a = write("a.jsonl", (0..<10).map { "{\"text\": \"a\($0)\"}" }.joined(separator: "\n"))
        let b = write("b.jsonl", (0..<10).map { "{\"text\": \"b\($0)\"}" }.joined(separator: "\n"))
        let sources = [DataSource(path: a, weight: 2), DataSource(path: b, weight: 0.5)]
        let d = try StageDataset(sources: sources, baseDirectory: dir, tokenizer: tokenizer, template: .chatml,
                                 system: nil, sequenceLength: 4, skipBadSamples: false)
        #expect(d.samplesPerEpoch == Int((2 * Double(d.sources[0].count)).rounded()) + Int((0.5 * Double(d.sources[1].count)).rounded()))
    }
}
