import Foundation
import Infer
import Model
import Tokenizer
import TestSupport
import Testing

/// The real model in ../shared: llama2.c's stories260K, converted, must reproduce llama2.c's own
/// greedy output exactly. (llama2.c samples after each of its 100 forward passes, so the reference
/// holds 100 tokens after BOS.)
@Suite(.enabled(if: TestPaths.sharedAvailable, "../shared/models/stories260K is absent: skipping the real-model tests"))
struct Stories260KTests {
    let source = TestPaths.shared + "/models/stories260K"

    @Test func convertedModelReproducesLlama2cGreedyOutput() throws {
        let out = TestPaths.temporaryDirectory("stories260k")
        _ = try Llama2cImporter.convert(model: source + "/stories260K.bin", tokenizer: source + "/tok512.model", output: out)
        for file in ["config.json", "model.safetensors", "tokenizer.model"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file))
        }
        let decoder = try ModelDirectory.loadDecoder(out)
        #expect(decoder.config.numKeyValueHeads == 4 && decoder.config.tieWordEmbeddings)
        let tokenizer = try SentencePieceTokenizer(path: out + "/tokenizer.model")
        let bos = tokenizer.bosID!
        let tokens = try Generator.generate(decoder, prompt: [bos], maxNewTokens: 100, stopTokens: [bos]).content
        let text = tokenizer.decode(tokens) + "\n"
        let reference = try String(contentsOfFile: source + "/greedy_reference.txt", encoding: .utf8)
        #expect(text == reference)
    }
}
