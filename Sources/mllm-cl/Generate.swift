import ArgumentParser
import Data
import Foundation
import Infer
import Model
import Support

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a model directory, optionally about one image (a quick look; `infer` does batches).",
        discussion: """
            The prompt is tokenized as transformers' tokenizer(prompt) does (BOS when the tokenizer adds one, special \
            tokens in the text as single ids); --chat puts it in the model's chat template as one user message; \
            --prompt-ids gives the ids directly. Generation stops at the model's EOS ids (generation_config.json, \
            else config.json and the tokenizer) or after --max-new-tokens.
            """
    )

    @Option(help: "Model directory (config.json, weights, tokenizer.model or tokenizer.json).")
    var model: String
    @Option(help: "Prompt text (empty: start from BOS alone).")
    var prompt = ""
    @Option(name: .customLong("prompt-ids"), help: "Prompt token ids, comma-separated (nothing is added).")
    var promptIDs: String?
    @Flag(help: "Put the prompt in the model's chat template as one user message.")
    var chat = false
    @Option(help: "Template for --chat: auto (the model's own, else chatml), chatml, llama2, vicuna, llava or plain.")
    var template = "auto"
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
    @Option(help: "Also write {prompt_ids, generated_ids, text, finish_reason} to this JSON file.")
    var json: String?
    @Option(help: "An image (PNG or JPEG) for a multimodal model: the prompt's <image> (put first when absent) becomes its visual tokens.")
    var image: String?

    @Option(help: "The decoder's matrices as f32, or bf16 (half the bytes a step reads: faster decoding; logits within about 1e-2).")
    var dtype: WeightPrecision = .f32

    @OptionGroup var weights: WeightOptions

    func run() throws {
        weights.apply()
        try runReportingErrors {
            let input = try promptInput()
            if let json { try OutputPath.checkWritable(json) }
            let loaded = try LoadedModel(directory: model, languageModelOnly: image == nil, precision: dtype)
            let start = Date()
            let record = try Generator.complete(loaded, prompt: input, image: image, maxNewTokens: maxNewTokens,
                                                options: SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed)) {
                print($0, terminator: "")
                flushOutput()
            }
            print()
            let seconds = Date().timeIntervalSince(start), n = record.generatedIDs.count
            FileHandle.standardError.write(Data(String(format: "[%d tokens, %.0f tokens/s, %@]\n", n, Double(n) / max(seconds, 1e-9), record.finishReason.rawValue).utf8))
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                try AtomicFile.write(try encoder.encode(record) + Data("\n".utf8), to: json)
            }
        }
    }

    func promptInput() throws -> GenerationPrompt {
        if let promptIDs {
            guard prompt.isEmpty, !chat else { throw ValidationError("--prompt-ids goes alone (not with --prompt or --chat)") }
            return .ids(try GenerationPrompt.ids(parsing: promptIDs))
        }
        guard chat else {
            guard template == "auto" else { throw ValidationError("--template applies to --chat prompts only") }
            return .text(prompt)
        }
        guard let framing = PromptFraming(name: template), framing != .none else {
            throw ValidationError("--template must be one of auto, \(ChatTemplate.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return .chat(prompt, framing)
    }
}
