import Foundation
import Data
import Infer
import Model
import Tokenizer

/// The recipe's `generate` block: completions of its prompts (BOS + prompt) after training,
/// each checked against `expect` when given.
struct Completions {
    let spec: GenerationSpec
    let seed: UInt64
    let log: (String) -> Void

    /// (prompt, completion, whether it starts with the expected answer).
    func run(_ decoder: DecoderModel, _ tokenizer: any TextTokenizer, generation: GenerationConfig?) throws -> [(String, String, Bool?)] {
        let bos = tokenizer.bosPrefix
        let stop = StopTokens.of(tokenizer: tokenizer, config: decoder.config, generation: generation)
        let context = decoder.config.maxPositionEmbeddings
        log("samples (\(spec.temperature == 0 ? "greedy" : "temperature \(spec.temperature)")):")
        var results: [(String, String, Bool?)] = []
        for (i, prompt) in spec.prompts.enumerated() {
            let ids = bos + tokenizer.encode(prompt)
            guard ids.count < context else {
                log("  · \(prompt.prefix(40))…: skipped, \(ids.count) tokens do not fit the context of \(context)")
                results.append((prompt, "", false))
                continue
            }
            let new = try Generator.generate(decoder, prompt: ids, maxNewTokens: min(spec.maxNewTokens, context - ids.count),
                                             options: SamplingOptions(temperature: spec.temperature, seed: seed), stopTokens: stop).content
            let completion = TextStream.completion(tokenizer, prompt: Array(ids.dropFirst(bos.count)), new: new)
            let correct = spec.expect.map { completion.trimmingCharacters(in: .whitespaces).hasPrefix($0[i].trimmingCharacters(in: .whitespaces)) }
            log("  \(correct.map { $0 ? "✓" : "✗" } ?? "·") \(prompt) ▸\(completion)")
            results.append((prompt, completion, correct))
        }
        if spec.expect != nil { log("  \(results.filter { $0.2 == true }.count)/\(results.count) completions start with the expected answer") }
        return results
    }
}
