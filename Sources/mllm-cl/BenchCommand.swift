import ArgumentParser
import Bench
import Foundation
import Support
import Model

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
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
        try runReportingErrors {
            try o.config.validate(file: "bench options")
            if let json { try OutputPath.checkWritable(json) }
            let report = Bench.run(o) { print($0); flushOutput() }
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(encoder.encode(report), to: json)
                print("wrote \(json)")
            }
        }
    }
}
