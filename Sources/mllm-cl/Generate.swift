import ArgumentParser
import Foundation
import Infer
import Model

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
            let loaded = try LoadedModel(directory: model, languageModelOnly: true), tokenizer = loaded.tokenizer
            let bos = tokenizer.bosID ?? Int32(loaded.decoder.config.bosTokenId ?? 1)
            let prompt = [bos] + tokenizer.encode(self.prompt)
            let stop = Set([bos, tokenizer.eosID].compactMap { $0 })
            var stream = TextStream(tokenizer, ids: Array(prompt.dropFirst()))
            print(stream.text, terminator: "")
            let start = Date()
            let new = try Generator.generate(loaded.decoder, prompt: prompt, maxNewTokens: maxNewTokens,
                                             options: SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed),
                                             stopTokens: stop) { token in
                print(stream.append(token), terminator: "")
                flushOutput()
            }
            print(stream.finish())
            let seconds = Date().timeIntervalSince(start)
            FileHandle.standardError.write(Data(String(format: "[%d tokens, %.0f tokens/s]\n", new.count, Double(new.count) / max(seconds, 1e-9)).utf8))
        }
    }
}
