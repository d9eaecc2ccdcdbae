import Data
import Foundation
import Support
import Model
import Tokenizer

/// `mllm-cl infer`: completes every prompt of a JSONL file, `batchSize` sequences in flight (a
/// finished sequence's slot goes to the next prompt at once; static batches for a decoder with
/// adapters), and appends one JSON line per completion to the output as its sequence finishes. Ids already in the output are
/// skipped, so an interrupted run can be rerun (a partial last line, from a write cut short, is
/// removed first); a bad input line, or a request that fails (a prompt too long for the
/// context, an unreadable image), is reported and the rest go on: a failing batch is retried
/// one request at a time, so only the bad ones are lost.
public struct InferJob {
    public struct Options: Sendable {
        public var model: String
        public var input: String
        public var output: String
        /// Relative image paths start here (default: the input's folder).
        public var imageFolder: String?
        public var batchSize = 8
        public var maxNewTokens = 64
        public var sampling = SamplingOptions()
        /// Input line i (1-based) samples with seed + i.
        public var seed: UInt64 = 0
        /// `auto`: the model's chat template, else ChatML.
        public var framing = PromptFraming.auto
        /// The format the decoder's matrices are read in.
        public var precision = WeightPrecision.f32

        public init(model: String, input: String, output: String) {
            self.model = model
            self.input = input
            self.output = output
        }
    }

    /// What a run did.
    public struct Report: Sendable {
        public var written = 0, skipped = 0, bad = 0, tokens = 0
        public var seconds = 0.0
    }

    public let options: Options
    /// Receives one line per bad input line or failed batch (the caller prints it to stderr).
    let warn: (String) -> Void

    public init(_ options: Options, warn: @escaping (String) -> Void) {
        self.options = options
        self.warn = warn
    }

    public func run() throws -> Report {
        let o = options
        guard o.batchSize >= 1, o.maxNewTokens >= 1 else { throw InferError("--batch-size and --max-new-tokens must be at least 1") }
        try o.sampling.validate()
        let loaded = try LoadedModel(directory: o.model, precision: o.precision)
        guard let data = FileManager.default.contents(atPath: o.input) else { throw InferError("\(o.input): file not found") }
        if try Self.removePartialLastLine(o.output) { warn("\(o.output): removed a partial last line (a write cut short)") }
        let finished = Self.finishedIDs(in: o.output)
        let out = try Self.openForAppending(o.output)
        defer { try? out.close() }
        var report = Report()
        let requests = readRequests(data, skipping: finished, acceptsImages: loaded.multimodal != nil, report: &report)
        let generator = BatchGenerator(model: loaded.model, tokenizer: loaded.tokenizer, template: try o.framing.format(for: loaded.tokenizer),
                                       options: SamplingOptions(temperature: o.sampling.temperature, topK: o.sampling.topK, topP: o.sampling.topP),
                                       maxNewTokens: o.maxNewTokens, stopTokens: loaded.stopTokens)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let start = Date()
        var done = Set<String>(), failed = Set<String>()
        let write = { (result: InferResult) throws in
            try out.write(contentsOf: encoder.encode(result) + Data("\n".utf8))
            report.tokens += result.tokens
            report.written += 1
            done.insert(result.id)
        }
        let fail = { (r: (request: InferRequest, seed: UInt64, line: Int), error: Error) in
            report.bad += 1
            failed.insert(r.request.id)
            warn("\(o.input):\(r.line) (id \(excerpt(r.request.id))): \(error)")
        }
        /// One request alone: what a batch falls back to when it fails as a whole.
        let alone = { (r: (request: InferRequest, seed: UInt64, line: Int)) in
            do { try generator.generate([r.request], seeds: [r.seed], onFinish: write) } catch { fail(r, error) }
        }
        if generator.refillsSlots {
            // Continuous batching: a finished sequence's slot goes to the next request at once
            do {
                try generator.generate(stream: requests.map(\.request), seeds: requests.map(\.seed), slots: o.batchSize,
                                       onFinish: write, onFailure: { fail(requests[$0], $1) })
            } catch {
                for r in requests where !done.contains(r.request.id) && !failed.contains(r.request.id) { alone(r) }
            }
        } else {
            // An adapter's cache state assumes one shared position: static batches, left-padded
            for batchStart in stride(from: 0, to: requests.count, by: o.batchSize) {
                let batch = Array(requests[batchStart..<min(requests.count, batchStart + o.batchSize)])
                do {
                    try generator.generate(batch.map(\.request), seeds: batch.map(\.seed), onFinish: write)
                } catch {
                    // One bad request must not cost its batch: the rest again, one by one
                    for r in batch where !done.contains(r.request.id) { alone(r) }
                }
            }
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// The input's requests (each with its seed and 1-based line), minus the ids in `finished`; bad lines are reported and counted.
    func readRequests(_ data: Data, skipping finished: Set<String>, acceptsImages: Bool, report: inout Report)
        -> [(request: InferRequest, seed: UInt64, line: Int)] {
        let folder = options.imageFolder ?? (options.input as NSString).deletingLastPathComponent
        var requests: [(request: InferRequest, seed: UInt64, line: Int)] = []
        for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do {
                let r = try InferRequest(jsonLine: Data(line), folder: folder, model: options.model, acceptsImages: acceptsImages,
                                         contained: options.imageFolder != nil)
                if finished.contains(r.id) { report.skipped += 1; continue }
                requests.append((r, options.seed &+ UInt64(i + 1), i + 1))
            } catch {
                report.bad += 1
                warn("\(options.input):\(i + 1): \(error)")
            }
        }
        return requests
    }

    /// Ids already answered in `output` (an earlier, interrupted run).
    static func finishedIDs(in output: String) -> Set<String> {
        guard let existing = FileManager.default.contents(atPath: output) else { return [] }
        var ids = Set<String>()
        for line in existing.split(separator: UInt8(ascii: "\n")) {
            if let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = o["id"] as? String { ids.insert(id) }
        }
        return ids
    }

    /// Truncates `path` after its last newline when its last line is unterminated (a write cut
    /// short); returns whether it did. Appending to it would glue the next record onto the fragment.
    static func removePartialLastLine(_ path: String) throws -> Bool {
        guard let data = FileManager.default.contents(atPath: path), let last = data.last, last != UInt8(ascii: "\n") else { return false }
        let keep = (data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
        guard let handle = FileHandle(forWritingAtPath: path) else { throw InferError("\(path): cannot open to repair its last line (\(OutputPath.reason(creating: path)))") }
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(keep))
        return true
    }

    /// `path` opened for appending (created when missing).
    static func openForAppending(_ path: String) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw InferError("\(path): cannot create (\(OutputPath.reason(creating: path)))") }
        }
        guard let out = FileHandle(forWritingAtPath: path) else { throw InferError("\(path): cannot open for writing (\(OutputPath.reason(creating: path)))") }
        try out.seekToEnd()
        return out
    }
}
