import Foundation
import Tokenizer

/// The tokenized samples of one training stage, per source: text packed into chunks of
/// `sequenceLength + 1` tokens (inputs and shifted targets; the last chunk may be shorter),
/// conversations one per sample (truncated to fit). The batcher pads short samples.
public struct StageDataset: Sendable {
    /// How a multimodal stage turns images into model input.
    public struct Vision: Sendable {
        public var preprocessor: ImagePreprocessor
        /// The `<image>` placeholder's id; each becomes `tokensPerImage` copies of itself.
        public var imageToken: Int32
        public var tokensPerImage: Int

        public init(preprocessor: ImagePreprocessor, imageToken: Int32, tokensPerImage: Int) {
            self.preprocessor = preprocessor
            self.imageToken = imageToken
            self.tokensPerImage = tokensPerImage
        }
    }

    public let sequenceLength: Int
    /// Samples per source.
    public let sources: [[Sample]]
    /// Mixing weight per source.
    public let weights: [Double]
    /// Conversations cut to fit `sequenceLength + 1` tokens.
    public let truncated: Int
    /// Bad lines or samples skipped (with `skip_bad_samples`), unreadable images included.
    public let skipped: Int
    /// Preprocessed images, (3, S, S) each, decoded once when the dataset is built.
    public let images: [[Float]]

    /// Reads and tokenizes `sources` (paths resolved against `baseDirectory`).
    public init(sources: [DataSource], baseDirectory: String, tokenizer: SentencePieceTokenizer, template: ChatTemplate,
                system: String?, sequenceLength T: Int, skipBadSamples: Bool, vision: Vision? = nil) throws {
        sequenceLength = T
        var reader = SourceReader(skipBad: skipBadSamples)
        var images: [[Float]] = [], imageIndex: [String: Int] = [:], badImages = 0
        let bos = tokenizer.bosID, eos = tokenizer.eosID
        var all: [[Sample]] = [], truncated = 0
        for source in sources {
            let path = source.path.hasPrefix("/") ? source.path : baseDirectory + "/" + source.path
            let docs = try reader.read(source, path: path, allowImages: vision != nil)
            var samples: [Sample] = []
            var stream: [Int32] = []
            for doc in docs {
                switch doc {
                case .text(let text):
                    if let bos { stream.append(bos) }
                    stream += tokenizer.encode(text)
                    if let eos { stream.append(eos) }
                case .conversation(let id, var turns, let image):
                    var imageSlot: Int?
                    if let image, let vision {
                        if let known = imageIndex[image] {
                            imageSlot = known
                        } else {
                            do {
                                images.append(vision.preprocessor.process(try ImageDecoder.decode(path: image)))
                            } catch {
                                guard skipBadSamples else { throw DataError("\(path): sample \(id): \(error)") }
                                badImages += 1
                                continue
                            }
                            imageIndex[image] = images.count - 1
                            imageSlot = images.count - 1
                        }
                        // LLaVA: a sample with an image but no <image> placeholder gets one before its first turn.
                        if !turns.contains(where: { $0.value.contains(SpecialTokens.image) }), let first = turns.first {
                            turns[0] = Turn(first.role, SpecialTokens.image + "\n" + first.value)
                        }
                    }
                    var s = try template.tokenize(turns, system: system, tokenizer: tokenizer, bos: bos, sampleName: "\(path): sample \(id)")
                    if let vision, let slot = imageSlot {
                        s = Self.expand(s, vision: vision, image: slot)
                    }
                    if s.tokens.count > T + 1 {
                        s = Sample(tokens: Array(s.tokens.prefix(T + 1)), supervised: Array(s.supervised.prefix(T + 1)), image: s.image)
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
        self.images = images
        skipped = reader.skipped + badImages
        for (s, w) in zip(sources, weights) where !(w >= 0) || !w.isFinite {
            throw DataError("\(s.path): weight \(w) must be a non-negative number")
        }
        guard samplesPerEpoch > 0 else {
            throw DataError("\(sources.map(\.path).joined(separator: ", ")): the weights draw no sample per epoch (round(weight x samples) is 0 for every source)")
        }
    }

    /// Each `<image>` placeholder becomes `tokensPerImage` unsupervised copies, the slots the
    /// visual tokens are spliced into.
    static func expand(_ s: Sample, vision: Vision, image: Int) -> Sample {
        var tokens: [Int32] = [], supervised: [Bool] = []
        for (t, sup) in zip(s.tokens, s.supervised) {
            if t == vision.imageToken {
                tokens += Array(repeating: t, count: vision.tokensPerImage)
                supervised += Array(repeating: false, count: vision.tokensPerImage)
            } else {
                tokens.append(t)
                supervised.append(sup)
            }
        }
        return Sample(tokens: tokens, supervised: supervised, image: image)
    }

    /// This dataset with one more source of ready samples (a replay buffer) drawn at `weight`.
    public func adding(samples: [Sample], weight: Double) -> StageDataset {
        StageDataset(sequenceLength: sequenceLength, sources: sources + [samples], weights: weights + [weight],
                     truncated: truncated, skipped: skipped, images: images)
    }

    /// One source of ready text-only samples, each drawn once per epoch.
    public init(samples: [Sample], sequenceLength: Int) {
        precondition(samples.allSatisfy { $0.image == nil }, "ready samples carry no image")
        self.init(sequenceLength: sequenceLength, sources: [samples], weights: [1], truncated: 0, skipped: 0, images: [])
    }

    init(sequenceLength: Int, sources: [[Sample]], weights: [Double], truncated: Int, skipped: Int, images: [[Float]]) {
        self.sequenceLength = sequenceLength
        self.sources = sources
        self.weights = weights
        self.truncated = truncated
        self.skipped = skipped
        self.images = images
    }

    /// Samples drawn per epoch from source i: round(weight · size).
    public var samplesPerEpoch: Int { zip(sources, weights).reduce(0) { $0 + Int(($1.1 * Double($1.0.count)).rounded()) } }
    public var totalTokens: Int { sources.reduce(0) { $0 + $1.reduce(0) { $0 + $1.tokens.count } } }
}
