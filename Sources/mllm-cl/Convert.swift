import ArgumentParser
import Model

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a model from another format into a Hugging Face-style directory.",
        subcommands: [Llama2c.self, HuggingFace.self]
    )

    struct HuggingFace: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hf",
            abstract: "Convert a Hugging Face directory (LlavaForConditionalGeneration, LlamaForCausalLM, Qwen2ForCausalLM) into this project's checkpoint.",
            discussion: "Reads either LLaVA tensor layout (language_model.model.* as save_pretrained writes it, or model.language_model.*) and writes config.json, model.safetensors (this project's names), preprocessor_config.json, the tokenizer files and generation_config.json into --out. Every command that takes --model also reads the Hugging Face directory as it is."
        )

        @Argument(help: "The Hugging Face model directory (or this project's checkpoint).")
        var model: String
        @Option(help: "Output directory.")
        var out: String
        @Flag(name: .customLong("merge-lora"), help: "Write the model with its LoRA merged into the weights (W += (alpha/r)·B·A), no LoRA tensors.")
        var mergeLoRA = false

        @OptionGroup var weights: WeightOptions

        func run() throws {
            weights.apply()
            let summary = try runReportingErrors { try HuggingFaceImport.convert(directory: model, to: out, mergeLoRA: mergeLoRA) }
            print("wrote \(out): \(summary)")
        }
    }

    struct Llama2c: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "llama2c",
            abstract: "Convert a llama2.c checkpoint (.bin) and its SentencePiece tokenizer.",
            discussion: "Writes config.json, model.safetensors and tokenizer.model into --out. The q/k rows are permuted from llama2.c's interleaved RoPE pairs to Hugging Face's rotate-half layout."
        )

        @Argument(help: "The llama2.c checkpoint, e.g. stories260K.bin.")
        var model: String
        @Option(help: "The model's SentencePiece tokenizer (.model).")
        var tokenizer: String
        @Option(help: "Output directory.")
        var out: String

        func run() throws {
            let decoder = try runReportingErrors { try Llama2cImporter.convert(model: model, tokenizer: tokenizer, output: out) }
            let c = decoder.config
            print("wrote \(out): \(c.numHiddenLayers) layers, hidden \(c.hiddenSize), \(c.numAttentionHeads) heads (\(c.numKeyValueHeads) kv), vocab \(c.vocabSize), \(decoder.parameters.count) parameters")
        }
    }
}
