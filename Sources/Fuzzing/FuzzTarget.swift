import Data
import Eval
import Foundation
import Model
import SafeTensors
import Support
import Tokenizer
import Train

/// The parsers a user's files reach, each as a function of raw bytes: what libFuzzer drives in
/// `mllm-cl-fuzz` (`scripts/fuzz.sh`) and what the tests replay over the committed corpora
/// (`Tests/Fixtures/fuzz/<target>/`).
///
/// An input may be accepted or refused. It is a *finding* (``FuzzFinding``) when it is refused
/// with anything but a ``UserFacingError`` (a raw `DecodingError` or `NSError` reaching the
/// user), or with a message that is not one line naming the file. A crash, a trap, a sanitizer
/// report or an allocation beyond libFuzzer's limit is a finding of libFuzzer's own.
///
/// Targets whose files select a variant take it from the first byte, so one corpus covers all:
/// `suite` (CSV, JSONL, TSV), `data` (LLaVA JSON, JSONL), `tokenizer` (SentencePiece model,
/// tokenizer.json).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A `.safetensors` file: header, offsets, then every tensor read as float32.
    case safetensors
    /// `config.json` as a decoder, then as a LLaVA config; the same bytes as
    /// `preprocessor_config.json`, `generation_config.json` and `tokenizer_config.json`.
    case config
    /// A training recipe (YAML), through the schema and every value check.
    case recipe
    /// A multiple-choice suite; first byte mod 3: CSV, JSONL, TSV.
    case suite
    /// Training data; first byte even: LLaVA conversation JSON (images inside the folder), odd: JSONL.
    case data
    /// A PNG or JPEG image, decoded to RGB.
    case image
    /// First byte even: a SentencePiece `tokenizer.model`; odd: a `tokenizer.json`. A tokenizer
    /// that loads encodes and decodes a fixed text.
    case tokenizer
    /// A llama2.c `.bin` checkpoint, imported into a decoder.
    case llama2c

    /// What one input did: accepted by at least one of the target's parsers, or refused by all.
    public enum Outcome: Equatable, Sendable {
        case accepted
        /// Refused with this user-facing message (the first parser's).
        case refused(String)
    }

    /// The memory budget the fuzzer runs the parsers under (`MLLM_CL_MEMORY_LIMIT`), below
    /// libFuzzer's 2 GB RSS limit so that a config the size checks accept cannot exceed it.
    public static let memoryLimit = "512M"

    /// Runs `input` through the target, writing its files under `scratch` (a folder of this
    /// target's own, overwritten on each call).
    ///
    /// - Throws: ``FuzzFinding`` when the input was refused with a raw error or a message that is
    ///   not one line naming the file.
    public func run(_ input: Foundation.Data, scratch: String) throws -> Outcome {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var refusal: String?, accepted = false
        for attempt in try attempts(input, scratch: scratch) {
            do {
                try attempt.body()
                accepted = true
            } catch let error as UserFacingError {
                let message = error.description
                guard !message.isEmpty, !message.contains("\n"), message.contains(attempt.file) else {
                    throw FuzzFinding(target: self, "a message that is not one line naming \(attempt.file): \(message.debugDescription)")
                }
                refusal = refusal ?? message
            } catch {
                throw FuzzFinding(target: self, "a raw \(type(of: error)) instead of a message naming \(attempt.file): \(error)")
            }
        }
        return accepted ? .accepted : .refused(refusal ?? "")
    }

    /// One parser call over a file named `file` (the message must name it).
    struct Attempt {
        let file: String
        let body: () throws -> Void
    }

    /// Writes `bytes` to `scratch/name` and returns the path.
    private func write(_ bytes: Foundation.Data, _ name: String, in scratch: String) throws -> String {
        let path = scratch + "/" + name
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    private func attempts(_ input: Foundation.Data, scratch: String) throws -> [Attempt] {
        let selector = input.first ?? 0
        let rest = input.isEmpty ? input : input.dropFirst()
        switch self {
        case .safetensors:
            let path = try write(input, "model.safetensors", in: scratch)
            return [Attempt(file: path) {
                let file = try SafeTensorsFile(path: path)
                for tensor in file.tensors { _ = try file.floats(tensor.name) }
            }]
        case .config:
            // Each reader in a folder of its own, so that one's file is not another's side file.
            func file(_ reader: String, _ name: String) throws -> String {
                let folder = scratch + "/" + reader
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                return try write(input, name, in: folder)
            }
            let decoder = try file("decoder", "config.json"), llava = try file("llava", "config.json")
            let processor = try file("processor", "preprocessor_config.json"), generation = try file("generation", "generation_config.json")
            let tokenizer = try file("tokenizer", "tokenizer_config.json")
            return [
                Attempt(file: decoder) { _ = DecoderModel(config: try DecoderConfig.load(path: decoder)) },
                Attempt(file: llava) { _ = try MultimodalConfig.load(path: llava) },
                Attempt(file: processor) { _ = try ImageProcessorConfig.load(directory: (processor as NSString).deletingLastPathComponent) },
                Attempt(file: generation) { _ = try GenerationConfig.load(directory: (generation as NSString).deletingLastPathComponent) },
                Attempt(file: tokenizer) { _ = try TokenizerConfig(directory: (tokenizer as NSString).deletingLastPathComponent) },
            ]
        case .recipe:
            try Self.writeRecipeFiles()
            let path = scratch + "/recipe.yaml"
            return [Attempt(file: path) { _ = try RecipeLoader.decode(String(decoding: input, as: UTF8.self), file: path) }]
        case .suite:
            let path = try write(Foundation.Data(rest), "suite." + ["csv", "jsonl", "tsv"][Int(selector) % 3], in: scratch)
            return [Attempt(file: path) { _ = try SuiteLoader.load(path) }]
        case .data:
            let llava = selector % 2 == 0
            let path = try write(Foundation.Data(rest), llava ? "data.json" : "data.jsonl", in: scratch)
            return [Attempt(file: path) {
                var reader = SourceReader(skipBad: false)
                _ = try reader.read(DataSource(path: path, format: llava ? .llava : .jsonl), path: path, allowImages: true)
            }]
        case .image:
            return [Attempt(file: "input.img") { _ = try ImageDecoder.decode(input, name: "input.img") }]
        case .tokenizer:
            let path = try write(Foundation.Data(rest), selector % 2 == 0 ? "tokenizer.model" : "tokenizer.json", in: scratch)
            return [Attempt(file: path) {
                let tokenizer = try TokenizerFiles.load(path: path)
                let ids = tokenizer.encode("Hello wörld 123, <s> \u{4F60}\u{597D}\n\t!")
                _ = tokenizer.decode(ids)
            }]
        case .llama2c:
            let path = try write(input, "model.bin", in: scratch)
            return [Attempt(file: path) { _ = try Llama2cImporter.load(path: path) }]
        }
    }
}

extension FuzzTarget {
    /// The files the recipe seeds name (`scripts/fuzz/make_seeds.py` moves every path there), so
    /// that a recipe passes the checks that its files exist and mutations reach the rest.
    public static let recipeFiles = "/tmp/mllm-cl-fuzz-files"

    /// Creates ``recipeFiles`` when absent: a checkpoint's config.json, data, a suite folder.
    static func writeRecipeFiles() throws {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: recipeFiles + "/checkpoint/config.json") else { return }
        for folder in ["checkpoint", "suite/test"] {
            try fm.createDirectory(atPath: recipeFiles + "/" + folder, withIntermediateDirectories: true)
        }
        let files = [
            "corpus.jsonl": #"{"text": "Once upon a time."}"# + "\n",
            "conversations.json": #"[{"id": "a", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}]"#,
            "tokenizer.model": "",
            "suite/test/facts_test.csv": "Q?,a,b,c,d,A\n",
            "checkpoint/config.json": #"""
                {"model_type": "llama", "hidden_size": 16, "intermediate_size": 20, "num_hidden_layers": 2,
                 "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": 32, "rms_norm_eps": 1e-05,
                 "tie_word_embeddings": true, "max_position_embeddings": 64}
                """#,
        ]
        for (name, text) in files { try Foundation.Data(text.utf8).write(to: URL(fileURLWithPath: recipeFiles + "/" + name)) }
    }
}

/// An input a parser answered with something other than a clear message (``FuzzTarget``).
public struct FuzzFinding: Error, CustomStringConvertible, Sendable {
    public let target: FuzzTarget
    public let detail: String
    init(target: FuzzTarget, _ detail: String) { self.target = target; self.detail = detail }
    public var description: String { "fuzz target \(target.rawValue): \(detail)" }
}
