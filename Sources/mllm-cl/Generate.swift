import ArgumentParser
import Foundation
import Infer
import Model
import Tokenizer

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a model directory (a quick look; `infer` does batches and images).",
        discussion: "Tokenizes with the directory's tokenizer.model (libsentencepiece), prepends BOS, and stops at EOS or BOS."
    )

    @Option(help: "Model directory (config.json, model.safetensors, tokenizer.model).")
    var model: String
    @Option(help: "Prompt text (empty: start from BOS alone).")
    var prompt = ""
    @Option(name: .customLong("max-new-tokens"), help: "Tokens to generate at most.")
    var maxNewTokens = 64
    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0
    @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0: all).")
    var topK = 0
    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold (1: off).")
    var topP: Float = 1
    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    func run() throws {
        try runReportingErrors {
            let decoder = try ModelDirectory.loadDecoder(model)
            let tokenizer = try SentencePieceTokenizer(path: model + "/" + ModelDirectory.tokenizerFile)
            let bos = tokenizer.bosID ?? Int32(decoder.config.bosTokenId ?? 1)
            let prompt = [bos] + tokenizer.encode(self.prompt)
            var stop = Set<Int32>([bos])
            if let eos = tokenizer.eosID { stop.insert(eos) }
            var generated = Array(prompt.dropFirst())
            var printed = tokenizer.decode(generated)
            print(printed, terminator: "")
            let start = Date()
            let new = try Generator.generate(decoder, prompt: prompt, maxNewTokens: maxNewTokens,
                                             options: SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed),
                                             stopTokens: stop) { token in
                generated.append(token)
                let text = tokenizer.decode(generated)
                if text.hasPrefix(printed) {
                    print(text.dropFirst(printed.count), terminator: "")
                    flushOutput()
                    printed = text
                }
            }
            let text = tokenizer.decode(generated)
            if text.hasPrefix(printed) { print(text.dropFirst(printed.count), terminator: "") }
            print("")
            let seconds = Date().timeIntervalSince(start)
            FileHandle.standardError.write(Data(String(format: "[%d tokens, %.0f tokens/s]\n", new.count, Double(new.count) / max(seconds, 1e-9)).utf8))
        }
    }
}
