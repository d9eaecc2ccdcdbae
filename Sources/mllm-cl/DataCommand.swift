import ArgumentParser
import Foundation
import Data

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Generate the project's own data.",
        subcommands: [ToyWorldCommand.self, KnowledgeSuiteCommand.self, ToyScenesCommand.self, SceneSuiteCommand.self, SceneClassesCommand.self]
    )

    /// Parses a `--categories` list; an unknown category is an error naming it.
    static func categories(_ list: String) throws -> [ToyScenes.Category] {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let chosen = try names.map { name in
            guard let c = ToyScenes.Category(rawValue: name) else {
                throw DataError("--categories: unknown category '\(name)' (color, shape, count, position)")
            }
            return c
        }
        guard !chosen.isEmpty else { throw DataError("--categories: name at least one category") }
        return chosen
    }

    /// Parses a `--languages` list; an unknown code is an error naming it.
    static func languages(_ list: String) throws -> [String] {
        let chosen = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if let bad = chosen.first(where: { !ToyWorld.languages.contains($0) }) {
            throw DataError("--languages: unknown language '\(bad)' (the toy world speaks \(ToyWorld.languages.joined(separator: ", ")))")
        }
        guard !chosen.isEmpty else { throw DataError("--languages: name at least one language") }
        return chosen
    }

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
        @Option(help: "Comma-separated languages to write (en, zh, pt, ar, tr, ru).") var languages = ToyWorld.languages.joined(separator: ",")

        func run() throws {
            try runReportingErrors {
                let world = ToyWorld(seed: seed, entities: entities)
                let chosen = try DataCommand.languages(languages)
                try world.write(to: out, variants: variants, languages: chosen)
                print("wrote \(out): \(entities) entities x \(chosen.count) languages")
            }
        }
    }

    struct KnowledgeSuiteCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "knowledge-suite",
            abstract: "Write the toy world's knowledge suites: one JSONL multiple-choice file per language.",
            discussion: "Each fact becomes a cloze question (the statement cut before the value) with four choices; subjects are kind, color, city and food. Score with: mllm-cl eval --text-only --mode continuation --suite DIR/en.jsonl"
        )

        @Option(help: "Output directory.") var out: String
        @Option(help: "World seed (the quickstart uses the default).") var seed: UInt64 = 7
        @Option(help: "Number of entities.") var entities = 48

        func run() throws {
            try runReportingErrors {
                try ToyWorld(seed: seed, entities: entities).writeKnowledgeSuites(to: out)
                print("wrote \(out): \(ToyWorld.languages.map { "\($0).jsonl" }.joined(separator: " ")), \(entities * ToyWorld.Attribute.allCases.count) items each")
            }
        }
    }

    struct ToyScenesCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "toy-scenes",
            abstract: "Draw the toy world's pictures: shapes of one kind and colour in a quadrant, 64x64 PNG.",
            discussion: "Writes images/scene_NNNN.png, captions.json (LLaVA JSON, <image> then a caption in each of en, zh, pt, ar, tr, ru, for vision and align stages) and conversations.json (every scene asked about its color, shape, count and position in every language). Deterministic for a seed."
        )

        @Option(help: "Output directory.") var out: String
        @Option(help: "Scene seed.") var seed: UInt64 = 11
        @Option(help: "Number of scenes.") var count = 480
        @Option(help: "Comma-separated languages of the captions and questions (en, zh, pt, ar, tr, ru).") var languages = ToyWorld.languages.joined(separator: ",")
        @Option(help: "Comma-separated question categories (color, shape, count, position): one task each for a task sequence.")
        var categories = ToyScenes.Category.allCases.map(\.rawValue).joined(separator: ",")

        func run() throws {
            try runReportingErrors {
                try ToyScenes(seed: seed, count: count).write(to: out, languages: try DataCommand.languages(languages),
                                                              categories: try DataCommand.categories(categories))
                print("wrote \(out): \(count) scenes")
            }
        }
    }

    struct SceneClassesCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scene-classes",
            abstract: "Write an image-classification folder of the toy world's pictures (18 classes: colour and shape), for class-incremental learning.",
            discussion: "Layout: OUT/{train,test}/<colour>_<shape>/NNNN.png (torchvision's ImageFolder), as recipes/cil-scenes-*.yaml read it."
        )

        @Option(help: "Output directory.") var out: String
        @Option(help: "Seed.") var seed: UInt64 = 2024
        @Option(help: "Training images per class.") var train = 40
        @Option(help: "Test images per class.") var test = 12

        func run() throws {
            try runReportingErrors {
                guard train >= 1, test >= 1, train <= 100_000, test <= 100_000 else { throw ValidationError("--train and --test must be in 1...100000") }
                try ToyScenes.writeImageFolder(to: out, seed: seed, train: train, test: test)
                print("wrote \(out): 18 classes, \(train) training and \(test) test images each")
            }
        }
    }

    struct SceneSuiteCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scene-suite",
            abstract: "Write the multimodal multiple-choice suite: per language, four questions on each of its own scenes.",
            discussion: "Its scenes come from their own seed, so none is a training image. Score with: mllm-cl eval --model DIR --suite DIR/en.jsonl"
        )

        @Option(help: "Output directory.") var out: String
        @Option(help: "Scene seed (differs from the training scenes').") var seed: UInt64 = 1011
        @Option(help: "Number of scenes.") var count = 48
        @Option(help: "Comma-separated languages (en, zh, pt, ar, tr, ru).") var languages = ToyWorld.languages.joined(separator: ",")
        @Option(help: "Comma-separated question categories (color, shape, count, position).")
        var categories = ToyScenes.Category.allCases.map(\.rawValue).joined(separator: ",")

        func run() throws {
            try runReportingErrors {
                try ToyScenes(seed: seed, count: count).writeSuite(to: out, range: 0..<count, languages: try DataCommand.languages(languages),
                                                                   categories: try DataCommand.categories(categories))
                print("wrote \(out): \(count) scenes x 4 questions per language")
            }
        }
    }
}
