import Data
import Foundation
import Model
import Tensor
import Tokenizer

/// Batched generation with a KV cache: prompts of different lengths are left-padded (the padding
/// masked out of attention; RoPE sees only relative positions, so nothing changes), images run
/// through the vision tower together, and each sequence stops on its own.
public final class BatchGenerator {
    public let model: AnyModel
    public let tokenizer: any TextTokenizer
    /// How a prompt is framed (a user turn, then the opening of the assistant's), or nil (raw text).
    public let template: ChatFormat?
    public let options: SamplingOptions
    public let maxNewTokens: Int
    /// Route visual tokens through Parrot's MoE, when the model has one.
    public let moe: Bool
    let stop: Set<Int32>

    public var decoder: DecoderModel { model.decoder }

    public init(model: AnyModel, tokenizer: any TextTokenizer, template: ChatFormat?, options: SamplingOptions,
                maxNewTokens: Int, stopTokens: Set<Int32>, moe: Bool = true) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.options = options
        self.maxNewTokens = maxNewTokens
        self.moe = moe
        stop = stopTokens
    }

    /// The prompt text as the model sees it: `<image>` first when the request has an image and
    /// its prompt no placeholder, then the template's generation prompt.
    public func frame(_ r: InferRequest) throws -> String {
        var prompt = r.prompt
        if r.image != nil && !prompt.contains(SpecialTokens.image) { prompt = SpecialTokens.image + "\n" + prompt }
        return try template?.generationPrompt(prompt) ?? prompt
    }

    /// Each request's ids: the template's prefix (``ChatFormat/promptPrefix(_:)``; raw text: BOS), the framed prompt, and (with an
    /// image) each `<image>` expanded into the tower's visual-token slots.
    func promptTokens(_ requests: [InferRequest]) throws -> [[Int32]] {
        let bos = template?.promptPrefix(tokenizer) ?? tokenizer.bosPrefix
        return try requests.map { r in
            let ids = tokenizer.encode(try frame(r))
            guard r.image != nil, let m = model.multimodal else { return bos + ids }
            return bos + ImagePlaceholders.expand(ids, imageToken: Int32(m.config.imageTokenIndex), count: m.imageTokens)
        }
    }

    /// Completes `requests` as one batch; `onFinish` sees each result as its sequence ends.
    /// `seeds` (one per request) make sampling independent of how requests are batched.
    public func generate(_ requests: [InferRequest], seeds: [UInt64], onFinish: (InferResult) throws -> Void) throws {
        let c = decoder.config, prompts = try promptTokens(requests)
        let longest = prompts.map(\.count).max() ?? 1
        guard longest < c.maxPositionEmbeddings else {
            throw ModelError("a prompt of \(longest) tokens leaves no room in a context of \(c.maxPositionEmbeddings)")
        }
        let budget = min(maxNewTokens, c.maxPositionEmbeddings - longest)
        let cache = try decoder.makeCache(batch: requests.count, capacity: longest + budget, chunk: min(longest, KVCache.prefillChunk),
                                          remedy: "lower --batch-size or --max-new-tokens")
        let pad = tokenizer.paddingID
        var tokens = [Int32](repeating: pad, count: requests.count * longest)
        for (b, p) in prompts.enumerated() {
            let padding = longest - p.count
            for (t, id) in p.enumerated() { tokens[b * longest + padding + t] = id }
            cache.maskPadding(sequence: b, count: padding)
        }
        let images = try encodeImages(requests, prompts: prompts, tokens: tokens, rowsPerSequence: longest)
        let (logits, rows) = decoder.prefill(tokens, rowsPerSequence: longest, cache: cache, visual: images?.visual)
        withExtendedLifetime(images) {}
        try decode(requests, seeds: seeds, first: logits, rowsPerSequence: rows, cache: cache, budget: budget, pad: pad, onFinish: onFinish)
    }

    /// The requests' images through the model's one image path, placed on their prompts' slots
    /// (row b·T + t of the padded batch). Nil when no request has an image.
    func encodeImages(_ requests: [InferRequest], prompts: [[Int32]], tokens: [Int32], rowsPerSequence T: Int) throws
        -> (visual: VisualTokens, encoding: ImageEncoding)? {
        guard let m = model.multimodal, requests.contains(where: { $0.image != nil }) else { return nil }
        let size = m.config.visionConfig.imageSize, imageToken = Int32(m.config.imageTokenIndex)
        let encoding = m.makeImageEncoding(images: requests.count, maxGuidance: T, routedOneByOne: true)
        let pre = m.config.imagePreprocessor
        var placement: [(from: Int, to: Int)] = []
        for (b, r) in requests.enumerated() {
            guard let path = r.image else { continue }
            pre.process(try ImageDecoder.decode(path: path), into: encoding.vision.pixels.data + b * 3 * size * size)
            placement += tokens.withUnsafeBufferPointer {
                VisualTokens.placement(image: b, tokensPerImage: m.imageTokens, imageToken: imageToken,
                                       in: UnsafeBufferPointer(rebasing: $0[(b * T)..<((b + 1) * T)]), rowOffset: b * T)
            }
        }
        // Parrot: each image's tokens routed by its own prompt's text
        let guidance: ParrotGuidance? = moe && m.moe != nil ? .prompts(requests.indices.map { requests[$0].image != nil ? prompts[$0] : nil }) : nil
        return (VisualTokens(tokens: m.visualTokens(encoding, guidance: guidance).tokens, placement: placement), encoding)
    }

    /// Samples until every sequence has stopped: `first` holds the prompt's logits (`rowsPerSequence` rows each).
    func decode(_ requests: [InferRequest], seeds: [UInt64], first: Tensor, rowsPerSequence: Int, cache: KVCache, budget: Int, pad: Int32,
                onFinish: (InferResult) throws -> Void) throws {
        let B = requests.count, V = decoder.config.vocabSize
        var samplers = seeds.map { Sampler(SamplingOptions(temperature: options.temperature, topK: options.topK, topP: options.topP, seed: $0)) }
        var outputs = [[Int32]](repeating: [], count: B), done = [Bool](repeating: false, count: B)
        var logits = first, rows = rowsPerSequence
        for step in 0..<max(budget, 1) {
            var next = [Int32](repeating: pad, count: B)
            for b in 0..<B where !done[b] {
                let token = samplers[b].sample(logits.data + (b * rows + rows - 1) * V, vocabulary: V)
                let stopped = stop.contains(token)
                if !stopped { outputs[b].append(token); next[b] = token }
                if stopped || outputs[b].count >= budget || step == budget - 1 {
                    done[b] = true
                    try onFinish(InferResult(id: requests[b].id, output: tokenizer.decode(outputs[b]), tokens: outputs[b].count,
                                             finishReason: stopped ? .stop : .length))
                }
            }
            if done.allSatisfy({ $0 }) { break }
            logits = decoder.forward(newTokens: next, cache: cache)
            rows = 1
        }
    }
}
