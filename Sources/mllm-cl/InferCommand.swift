import ArgumentParser
import Data
import Foundation
import Model
import Infer

struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Batch inference from JSONL.",
        discussion: """
            Each input line is {"id", "prompt", "image"?} or a LLaVA sample {"id", "image"?, "conversations"} \
            (its first human turn is the prompt). Image paths are absolute or relative to --image-folder. \
            Each output line is {"id", "output", "tokens", "finish_reason"}, written as its sequence finishes; \
            ids already in the output file are skipped, so an interrupted run can simply be rerun. \
            A bad line is reported and the rest go on.
            """
    )

    @Option(help: "Model directory (text-only or multimodal).") var model: String
    @Option(help: "Input JSONL.") var input: String
    @Option(help: "Output JSONL (appended to).") var output: String
    @Option(name: .customLong("image-folder"), help: "Folder relative image paths start from (default: the input's folder).") var imageFolder: String?
    @Option(name: .customLong("batch-size"), help: "Sequences generated together.") var batchSize = 8
    @Option(name: .customLong("max-new-tokens"), help: "Tokens to generate at most per input.") var maxNewTokens = 64
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0
    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold (1: off).") var topP: Float = 1
    @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0: all).") var topK = 0
    @Option(help: "Random seed (each input samples with seed + its line number).") var seed: UInt64 = 0
    @Option(help: "Prompt framing: auto (the model's chat template, else chatml), chatml, llama2, vicuna, llava, plain, or none (raw text).")
    var template = "auto"

    @Option(help: "The decoder's matrices as f32, or bf16 (half the bytes a step reads: faster decoding; logits within about 1e-2).")
    var dtype: WeightPrecision = .f32

    @OptionGroup var weights: WeightOptions

    func run() throws {
        weights.apply()
        try runReportingErrors {
            guard let framing = PromptFraming(name: template) else {
                throw ValidationError("--template must be one of \(PromptFraming.names.joined(separator: ", "))")
            }
            var o = InferJob.Options(model: model, input: input, output: output)
            o.imageFolder = imageFolder
            o.batchSize = batchSize
            o.maxNewTokens = maxNewTokens
            o.sampling = SamplingOptions(temperature: temperature, topK: topK, topP: topP)
            o.seed = seed
            o.framing = framing
            o.precision = dtype
            let r = try InferJob(o) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }.run()
            print(String(format: "%d outputs (%d skipped as done, %d bad lines), %d tokens in %.2f s: %.1f tokens/s at batch size %d",
                         r.written, r.skipped, r.bad, r.tokens, r.seconds, Double(r.tokens) / max(r.seconds, 1e-9), batchSize))
            if r.bad > 0 {
                // The good lines are written; the exit code says not all were
                throw InferError("\(r.bad) input line(s) failed (reported above); \(r.written) written to \(output)")
            }
        }
    }
}
