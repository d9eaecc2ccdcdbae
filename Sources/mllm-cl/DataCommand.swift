import ArgumentParser
import Data

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Generate the project's own data.",
        subcommands: [ToyWorldCommand.self]
    )

    struct ToyWorldCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "toy-world",
            abstract: "Write the toy world's corpus: facts about invented animals in en, zh, pt, ar, tr and ru.",
            discussion: "Writes corpus.jsonl (profile documents), conversations.json (LLaVA JSON, text-only Q&A), spm_corpus.txt (sentences for tokenizer training) and world.json (the facts). Deterministic for a given seed."
        )

        @Option(help: "Output directory.") var out: String
        @Option(help: "World seed.") var seed: UInt64 = 7
        @Option(help: "Number of entities.") var entities = 48
        @Option(help: "Orderings of each profile document.") var variants = 4

        func run() throws {
            try runReportingErrors {
                let world = ToyWorld(seed: seed, entities: entities)
                try world.write(to: out, variants: variants)
                print("wrote \(out): \(entities) entities x \(ToyWorld.languages.count) languages")
            }
        }
    }
}
