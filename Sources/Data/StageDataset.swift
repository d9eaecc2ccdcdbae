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
    /// How the conversations were rendered (nil: the sources hold documents only).
    public let chatFormat: ChatFormat?

    /// Reads and tokenizes `sources` (paths resolved against `baseDirectory`).
    public init(sources: [DataSource], baseDirectory: String, tokenizer: any TextTokenizer, template: ChatTemplate?,
                system: String?, sequenceLength T: Int, skipBadSamples: Bool, vision: Vision? = nil) throws {
        sequenceLength = T
        var reader = SourceReader(skipBad: skipBadSamples)
        var builder = SampleBuilder(tokenizer: tokenizer, template: template, system: system, sequenceLength: T,
                                    skipBadSamples: skipBadSamples, vision: vision)
        var all: [[Sample]] = []
        for source in sources {
            let path = source.path.hasPrefix("/") ? source.path : baseDirectory + "/" + source.path
            var samples: [Sample] = [], stream: [Int32] = []
            for doc in try reader.read(source, path: path, allowImages: vision != nil) {
                switch doc {
                case .text(let text):
                    stream += builder.document(text)
                case .conversation(let id, let turns, let image):
                    if let s = try builder.conversation(turns, image: image, name: "\(path): sample \(id)") { samples.append(s) }
                }
            }
            samples += builder.pack(stream)
            guard !samples.isEmpty else { throw DataError("\(path): no usable samples") }
            all.append(samples)
        }
        self.sources = all
        weights = sources.map { $0.weight ?? 1 }
        truncated = builder.truncated
        images = builder.images
        chatFormat = builder.format
        skipped = reader.skipped + builder.badImages
        for (s, w) in zip(sources, weights) where !(w >= 0) || !w.isFinite {
            throw DataError("\(s.path): weight \(w) must be a non-negative number")
        }
        guard samplesPerEpoch > 0 else {
            throw DataError("\(sources.map(\.path).joined(separator: ", ")): the weights draw no sample per epoch (round(weight x samples) is 0 for every source)")
        }
    }

    /// This dataset with one more source of ready samples (a replay buffer) drawn at `weight`.
    public func adding(samples: [Sample], weight: Double) -> StageDataset {
        StageDataset(sequenceLength: sequenceLength, sources: sources + [samples], weights: weights + [weight],
                     truncated: truncated, skipped: skipped, images: images, chatFormat: chatFormat)
    }

    /// One source of ready text-only samples, each drawn once per epoch.
    public init(samples: [Sample], sequenceLength: Int) {
        precondition(samples.allSatisfy { $0.image == nil }, "ready samples carry no image")
        self.init(sequenceLength: sequenceLength, sources: [samples], weights: [1], truncated: 0, skipped: 0, images: [])
    }

    init(sequenceLength: Int, sources: [[Sample]], weights: [Double], truncated: Int, skipped: Int, images: [[Float]],
         chatFormat: ChatFormat? = nil) {
        self.chatFormat = chatFormat
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

/// Turns a stage's documents and conversations into samples: text into a token stream packed
/// into chunks of T + 1, each conversation one sample (cut to T + 1 tokens) with its image decoded
/// and preprocessed once and its `<image>` expanded into visual-token slots.
private struct SampleBuilder {
    let tokenizer: any TextTokenizer
    /// nil: the tokenizer's own chat template, else ChatML (resolved at the first conversation,
    /// so documents alone never need one).
    let template: ChatTemplate?
    var format: ChatFormat?
    let system: String?
    let sequenceLength: Int
    let skipBadSamples: Bool
    let vision: StageDataset.Vision?
    var images: [[Float]] = []
    var imageIndex: [String: Int] = [:]
    var badImages = 0
    var truncated = 0

    /// A text document's tokens for the stream: BOS, the text, EOS.
    func document(_ text: String) -> [Int32] {
        tokenizer.bosPrefix + tokenizer.encode(text) + (tokenizer.eosID.map { [$0] } ?? [])
    }

    /// A conversation as one sample, or nil when it supervises nothing (after truncation) or its
    /// image is unreadable and bad samples are skipped.
    mutating func conversation(_ turns: [Turn], image: String?, name: String) throws -> Sample? {
        var turns = turns, slot: Int?
        if let image, let vision {
            guard let index = try imageSlot(image, vision, name: name) else { return nil }
            slot = index
            // LLaVA: a sample with an image but no <image> placeholder gets one before its first turn.
            if !turns.contains(where: { $0.value.contains(SpecialTokens.image) }), let first = turns.first {
                turns[0] = Turn(first.role, SpecialTokens.image + "\n" + first.value)
            }
        }
        if format == nil { format = try ChatFormat.resolve(template, tokenizer: tokenizer) }
        var s = try format!.tokenize(turns, system: system, tokenizer: tokenizer, sampleName: name)
        if let vision, let slot { s = ImagePlaceholders.expand(s, imageToken: vision.imageToken, count: vision.tokensPerImage, image: slot) }
        let T = sequenceLength
        if s.tokens.count > T + 1 {
            s = Sample(tokens: Array(s.tokens.prefix(T + 1)), supervised: Array(s.supervised.prefix(T + 1)), image: s.image)
            truncated += 1
        }
        return s.supervised.dropFirst().contains(true) ? s : nil
    }

    /// The index of `path`'s preprocessed image (decoded the first time it is seen); nil when it is
    /// unreadable and skipped.
    mutating func imageSlot(_ path: String, _ vision: StageDataset.Vision, name: String) throws -> Int? {
        if let known = imageIndex[path] { return known }
        do {
            images.append(vision.preprocessor.process(try ImageDecoder.decode(path: path)))
        } catch {
            guard skipBadSamples else { throw DataError("\(name): \(error)") }
            badImages += 1
            return nil
        }
        imageIndex[path] = images.count - 1
        return images.count - 1
    }

    /// The text stream packed: chunk k covers tokens k·T ..< k·T + T + 1.
    func pack(_ stream: [Int32]) -> [Sample] {
        let T = sequenceLength
        var samples: [Sample] = [], start = 0
        while start + 1 < stream.count {
            let chunk = Array(stream[start..<min(start + T + 1, stream.count)])
            samples.append(Sample(tokens: chunk, supervised: Array(repeating: true, count: chunk.count)))
            start += T
        }
        return samples
    }
}
