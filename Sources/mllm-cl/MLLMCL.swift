import ArgumentParser

@main
struct MLLMCL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mllm-cl",
        abstract: "Turn a text-only LLM into a multimodal LLM by staged training, and measure what it forgets.",
        subcommands: [TrainCommand.self, EvalCommand.self, InferCommand.self, Generate.self, Convert.self, Export.self, DataCommand.self, TokenizerCommand.self, BenchCommand.self]
    )
}
