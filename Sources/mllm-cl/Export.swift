import ArgumentParser
import Model

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint in a format other tools load.",
        subcommands: [HuggingFace.self]
    )

    struct HuggingFace: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hf",
            abstract: "Write a checkpoint that transformers loads unmodified with from_pretrained.",
            discussion: """
            A multimodal checkpoint becomes a LlavaForConditionalGeneration directory (tensors named as save_pretrained \
            writes them, preprocessor_config.json and processor_config.json for LlavaProcessor), a text checkpoint a \
            LlamaForCausalLM or Qwen2ForCausalLM one; both with the tokenizer files. Wings' learners and Parrot's MoE \
            have no place in transformers' classes: they are refused unless --adapters-beside writes the model without \
            them and puts their tensors in mllm_cl_adapters.safetensors (their config in mllm_cl_adapters.json).
            """
        )

        @Argument(help: "The checkpoint directory (this project's, or any directory --model accepts).")
        var checkpoint: String
        @Option(help: "Output directory.")
        var out: String
        @Flag(name: .customLong("adapters-beside"), help: "Write Wings/Parrot/LoRA tensors beside the model instead of refusing.")
        var adaptersBeside = false
        @Flag(name: .customLong("merge-lora"), help: "Merge LoRA into the weights (W += (alpha/r)·B·A) and write no LoRA tensors.")
        var mergeLoRA = false

        @OptionGroup var weights: WeightOptions

        func run() throws {
            weights.apply()
            let summary = try runReportingErrors {
                var loaded = try LoadedModel(directory: checkpoint)
                if mergeLoRA { loaded = try loaded.mergingLoRA(source: checkpoint) }
                return try HuggingFaceExport.export(loaded, source: checkpoint, to: out, adaptersBeside: adaptersBeside)
            }
            print("wrote \(out): \(summary.architecture), \(summary.tensors) tensors, \(summary.parameters) parameters"
                  + (summary.besideTensors > 0 ? "; \(summary.besideTensors) adapter tensors in \(HuggingFaceExport.adaptersFile)" : ""))
        }
    }
}
