import Foundation
import Tokenizer

/// The tokenized samples of one training stage, per source: text packed into chunks of
/// `sequenceLength + 1` tokens (inputs and shifted targets; the last chunk may be shorter),
/// conversations one per sample (truncated to fit). The batcher pads short samples.
public struct StageDataset: Sendable {
    public let sequenceLength: Int
    /// Samples per source.
    public let sources: [[Sample]]
    /// Mixing weight per source.
    public let weights: [Double]
    /// Conversations cut to fit `sequenceLength + 1` tokens.
    public let truncated: Int
    /// Bad lines or samples skipped (with `skip_bad_samples`).
    public let skipped: Int

    /// Reads and tokenizes `sources` (paths resolved against `baseDirectory`).
    public init(sources: [DataSource], baseDirectory: String, tokenizer: SentencePieceTokenizer, template: ChatTemplate,
                system: String?, sequenceLength T: Int, skipBadSamples: Bool) throws {
        sequenceLength = T
        var reader = SourceReader(skipBad: skipBadSamples)
        let bos = tokenizer.bosID, eos = tokenizer.eosID
        var all: [[Sample]] = [], truncated = 0
        for source in sources {
            let path = source.path.hasPrefix("/") ? source.path : baseDirectory + "/" + source.path
            let docs = try reader.read(source, path: path)
            var samples: [Sample] = []
            var stream: [Int32] = []
            for doc in docs {
                switch doc {
                case .text(let text):
                    if let bos { stream.append(bos) }
                    stream += tokenizer.encode(text)
                    if let eos { stream.append(eos) }
                case .conversation(let id, let turns):
                    var s = try template.tokenize(turns, system: system, tokenizer: tokenizer, bos: bos, sampleName: "\(path): sample \(id)")
                    if s.tokens.count > T + 1 {
                        s = Sample(tokens: Array(s.tokens.prefix(T + 1)), supervised: Array(s.supervised.prefix(T + 1)))
                        truncated += 1
                    }
                    if s.supervised.dropFirst().contains(true) { samples.append(s) }
                }
            }
            // Pack the text stream: chunk k covers tokens k·T ..< k·T + T + 1.
            var start = 0
            while start + 1 < stream.count {
                let chunk = Array(stream[start..<min(start + T + 1, stream.count)])
                samples.append(Sample(tokens: chunk, supervised: Array(repeating: true, count: chunk.count)))
                start += T
            }
            guard !samples.isEmpty else { throw DataError("\(path): no usable samples") }
            all.append(samples)
        }
        self.sources = all
        weights = sources.map { $0.weight ?? 1 }
        self.truncated = truncated
        skipped = reader.skipped
        for (s, w) in zip(sources, weights) where !(w >= 0) || !w.isFinite {
            throw DataError("\(s.path): weight \(w) must be a non-negative number")
        }
    }

    /// Samples drawn per epoch from source i: round(weight · size).
    public var samplesPerEpoch: Int { zip(sources, weights).reduce(0) { $0 + Int(($1.1 * Double($1.0.count)).rounded()) } }
    public var totalTokens: Int { sources.reduce(0) { $0 + $1.reduce(0) { $0 + $1.tokens.count } } }
}
