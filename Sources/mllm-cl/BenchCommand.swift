import ArgumentParser
import Bench
import Collective
import Foundation
import Support
import Model

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed and memory as ratios to this machine's ceilings: training steps (the default) or decoding.",
        subcommands: [TrainStep.self, Decode.self],
        defaultSubcommand: TrainStep.self
    )
}

extension BenchCommand {
    struct TrainStep: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train",
            abstract: "Measure sgemm, text and multimodal training-step throughput and memory, as ratios.",
            discussion: "Build with -c release. Prints sgemm GFLOPS at the sizes a step uses, the text training step's tokens/s and achieved GFLOPS against the best sgemm rate of the same run, peak RSS against the analytic size, then a multimodal step (ViT 224 px, patch 16, width 192, into the same decoder) with its ratio."
        )

        @Option(help: "Hidden size.") var hidden = 512
        @Option(help: "Decoder layers.") var layers = 8
        @Option(help: "Attention heads.") var heads = 8
        @Option(help: "MLP intermediate size.") var intermediate = 1376
        @Option(help: "Vocabulary size.") var vocab = 8192
        @Option(help: "Sequences per batch.") var batch = 8
        @Option(help: "Tokens per sequence.") var sequence = 256
        @Option(help: "Timed training steps (after one warm-up step).") var steps = 3
        @Flag(name: .customLong("skip-multimodal"), help: "Skip the multimodal step (ViT 224 px, patch 16, width 192, 6 layers).") var skipMultimodal = false
        @Option(help: "Also write the report as JSON to this file.") var json: String?

        func run() throws {
            var o = Bench.Options()
            o.config = DecoderConfig(hiddenSize: hidden, numHiddenLayers: layers, numAttentionHeads: heads, intermediateSize: intermediate,
                                     vocabSize: vocab, maxPositionEmbeddings: sequence)
            o.batch = batch
            o.sequence = sequence
            o.steps = steps
            if skipMultimodal { o.vision = nil }
            let world: any Communicator
            do { world = try World.join() } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode.failure
            }
            defer { world.finish() }
            o.communicator = world
            try runReportingErrors {
                try o.config.validate(file: "bench options")
                if let json, world.isMain { try OutputPath.checkWritable(json) }
                let report = Bench.run(o) { line in if world.isMain { print(line); flushOutput() } }
                if let json, world.isMain {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    try AtomicFile.write(encoder.encode(report), to: json)
                    print("wrote \(json)")
                }
            }
        }
    }
}

extension BenchCommand {
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure cached decoding of a model against the memory bandwidth and sgemm peak of the same run.",
            discussion: "Build with -c release. Decodes --new-tokens greedily after a prompt of --prompt-tokens (the same in each of --batch sequences) and prints tokens/s, the weight bytes a step reads, the read bandwidth measured in the same run and their ratio (1 = the ceiling of a step that reads every weight once); with a prompt, prompt tokens/s and GFLOPS against the sgemm peak."
        )

        @Option(help: "Model directory.") var model: String
        @Option(help: "Sequences decoded together.") var batch = 1
        @Option(help: "Tokens generated per sequence.") var newTokens = 128
        @Option(help: "Prompt tokens per sequence (0: BOS alone, and no prompt figures).") var promptTokens = 0
        @Option(help: "Weights as f32 or bf16.") var dtype: WeightPrecision = .f32
        @Option(help: "Timed repetitions (the best is reported).") var repeats = 3
        @Option(help: "Also write the report as JSON (snake_case keys) to this file.") var json: String?

        func run() throws {
            try runReportingErrors {
                if let json { try OutputPath.checkWritable(json) }
                var o = DecodeBench.Options(model: model)
                o.batch = batch
                o.newTokens = newTokens
                o.promptTokens = promptTokens
                o.precision = dtype
                o.repeats = repeats
                let report = try DecodeBench.run(o) { print($0); flushOutput() }
                if let json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    try AtomicFile.write(encoder.encode(report), to: json)
                    print("wrote \(json)")
                }
            }
        }
    }
}

extension WeightPrecision: ExpressibleByArgument {}
