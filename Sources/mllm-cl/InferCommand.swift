import ArgumentParser
import Data
import Foundation
import Infer
import Model
import Tokenizer

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
    @Option(help: "Prompt framing: chatml (a user turn, then the assistant's), plain, or none (raw text).") var template = "chatml"

    func run() throws {
        try runReportingErrors {
            guard ["chatml", "plain", "none"].contains(template) else { throw ValidationError("--template must be chatml, plain or none") }
            guard batchSize >= 1, maxNewTokens >= 1 else { throw ValidationError("--batch-size and --max-new-tokens must be at least 1") }
            let multimodal = MultimodalModel.isMultimodal(directory: model) ? try MultimodalModel.load(model) : nil
            let decoder = try multimodal?.decoder ?? ModelDirectory.loadDecoder(model)
            let tokenizer = try SentencePieceTokenizer(path: model + "/" + ModelDirectory.tokenizerFile)
            guard let data = FileManager.default.contents(atPath: input) else { throw ValidationError("\(input): file not found") }
            let folder = imageFolder ?? (input as NSString).deletingLastPathComponent

            // Ids already answered, from an earlier (interrupted) run.
            var finished = Set<String>()
            if let existing = FileManager.default.contents(atPath: output) {
                for line in existing.split(separator: UInt8(ascii: "\n")) {
                    if let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = o["id"] as? String { finished.insert(id) }
                }
            } else {
                guard FileManager.default.createFile(atPath: output, contents: nil) else { throw ValidationError("\(output): cannot create") }
            }
            guard let out = FileHandle(forWritingAtPath: output) else { throw ValidationError("\(output): cannot open") }
            try out.seekToEnd()

            var requests: [(InferRequest, UInt64)] = [], bad = 0, skipped = 0
            for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
                if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
                do {
                    let r = try parse(Data(line), folder: folder, multimodal: multimodal != nil)
                    if finished.contains(r.id) { skipped += 1; continue }
                    requests.append((r, seed &+ UInt64(i + 1)))
                } catch {
                    bad += 1
                    FileHandle.standardError.write(Data("\(input):\(i + 1): \(error)\n".utf8))
                }
            }
            let generator = BatchGenerator(decoder: decoder, multimodal: multimodal, tokenizer: tokenizer,
                                           template: template == "none" ? nil : ChatTemplate(rawValue: template),
                                           options: SamplingOptions(temperature: temperature, topK: topK, topP: topP), maxNewTokens: maxNewTokens)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var generated = 0, written = 0
            let start = Date()
            for batchStart in stride(from: 0, to: requests.count, by: batchSize) {
                let batch = Array(requests[batchStart..<min(requests.count, batchStart + batchSize)])
                do {
                    try generator.generate(batch.map(\.0), seeds: batch.map(\.1)) { result in
                        try out.write(contentsOf: encoder.encode(result) + Data("\n".utf8))
                        generated += result.tokens
                        written += 1
                    }
                } catch {
                    bad += batch.count
                    FileHandle.standardError.write(Data("batch of \(batch.map(\.0.id).joined(separator: ", ")): \(error)\n".utf8))
                }
            }
            try out.close()
            let seconds = Date().timeIntervalSince(start)
            print(String(format: "%d outputs (%d skipped as done, %d bad lines), %d tokens in %.2f s: %.1f tokens/s at batch size %d",
                         written, skipped, bad, generated, seconds, Double(generated) / max(seconds, 1e-9), batchSize))
        }
    }

    func parse(_ line: Data, folder: String, multimodal: Bool) throws -> InferRequest {
        guard let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { throw ValidationError("not a JSON object") }
        guard let rawID = o["id"] else { throw ValidationError("missing 'id'") }
        let id = (rawID as? String) ?? "\(rawID)"
        let prompt: String
        if let p = o["prompt"] as? String {
            prompt = p
        } else if let turns = o["conversations"] as? [[String: Any]],
                  let first = turns.first(where: { ($0["from"] as? String) == "human" })?["value"] as? String {
            prompt = first
        } else {
            throw ValidationError("needs a string 'prompt' or LLaVA 'conversations' with a human turn")
        }
        var image: String?
        if let relative = o["image"] {
            guard multimodal else { throw ValidationError("has an image, but \(model) has no vision tower") }
            guard let r = relative as? String, !r.isEmpty else { throw ValidationError("'image' must be a path") }
            let path = r.hasPrefix("/") ? r : (folder as NSString).appendingPathComponent(r)
            _ = try ImageDecoder.decode(path: path)  // unreadable images are this line's error, not the batch's
            image = path
        }
        return InferRequest(id: id, prompt: prompt, image: image)
    }
}
