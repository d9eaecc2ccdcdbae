import Data
import Foundation
import Model
import Tensor
import Tokenizer

/// One prompt to complete.
public struct InferRequest: Sendable {
    public var id: String
    public var prompt: String
    /// An image path (multimodal models only).
    public var image: String?

    public init(id: String, prompt: String, image: String? = nil) {
        self.id = id
        self.prompt = prompt
        self.image = image
    }
}

/// One completion: `{"id", "output", "tokens", "finish_reason"}` (stop: an end token; length: the limit).
public struct InferResult: Codable, Sendable, Equatable {
    public var id: String
    public var output: String
    public var tokens: Int
    public var finishReason: String

    enum CodingKeys: String, CodingKey { case id, output, tokens, finishReason = "finish_reason" }
}

/// Batched generation with a KV cache: prompts of different lengths are left-padded (the padding
/// masked out of attention; RoPE sees only relative positions, so nothing changes), images run
/// through the vision tower together, and each sequence stops on its own.
public final class BatchGenerator {
    public let decoder: DecoderModel
    public let multimodal: MultimodalModel?
    public let tokenizer: SentencePieceTokenizer
    /// How a prompt is framed: `chatml` (a user turn, then the assistant's), `plain`, or nil (raw text).
    public let template: ChatTemplate?
    public let options: SamplingOptions
    public let maxNewTokens: Int
    let stop: Set<Int32>

    public init(decoder: DecoderModel, multimodal: MultimodalModel?, tokenizer: SentencePieceTokenizer, template: ChatTemplate?,
                options: SamplingOptions, maxNewTokens: Int) {
        self.decoder = decoder
        self.multimodal = multimodal
        self.tokenizer = tokenizer
        self.template = template
        self.options = options
        self.maxNewTokens = maxNewTokens
        var stop = Set<Int32>()
        for id in [tokenizer.eosID, tokenizer.bosID, tokenizer.id(of: SpecialTokens.turnEnd)] { if let id { stop.insert(id) } }
        self.stop = stop
    }

    /// The prompt text as the model sees it.
    public func frame(_ r: InferRequest) -> String {
        var prompt = r.prompt
        if r.image != nil && !prompt.contains(SpecialTokens.image) { prompt = SpecialTokens.image + "\n" + prompt }
        switch template {
        case nil: return prompt
        case .plain?: return prompt.hasSuffix("\n") ? prompt : prompt + "\n"
        case .chatml?: return ChatTemplate.chatml.render([Turn(.human, prompt)]).text + SpecialTokens.turnStart + "assistant\n"
        }
    }

    /// Completes `requests` as one batch; `onFinish` sees each result as its sequence ends.
    /// `seeds` (one per request) make sampling independent of how requests are batched.
    public func generate(_ requests: [InferRequest], seeds: [UInt64], onFinish: (InferResult) throws -> Void) throws {
        let B = requests.count, c = decoder.config, V = c.vocabSize
        let bos = tokenizer.bosID.map { [$0] } ?? []
        let imageToken = multimodal.map { Int32($0.config.imageTokenIndex) }
        let F = multimodal?.imageTokens ?? 0
        var prompts: [[Int32]] = []
        for r in requests {
            var ids = bos
            for t in tokenizer.encode(frame(r)) {
                if t == imageToken && r.image != nil { ids += Array(repeating: t, count: F) } else { ids.append(t) }
            }
            prompts.append(ids)
        }
        let longest = prompts.map(\.count).max() ?? 1
        guard longest < c.maxPositionEmbeddings else {
            throw ModelError("\(requests[prompts.firstIndex { $0.count == longest }!].id): a prompt of \(longest) tokens leaves no room in a context of \(c.maxPositionEmbeddings)")
        }
        let budget = min(maxNewTokens, c.maxPositionEmbeddings - longest)
        let cache = KVCache(config: c, batch: B, capacity: longest + budget, chunk: longest)
        let pad = tokenizer.padID ?? tokenizer.eosID ?? 0
        var tokens = [Int32](repeating: pad, count: B * longest)
        for (b, p) in prompts.enumerated() {
            let padding = longest - p.count
            for (t, id) in p.enumerated() { tokens[b * longest + padding + t] = id }
            cache.maskPadding(sequence: b, count: padding)
        }

        // Images: through the tower and projector together; their visual tokens replace the placeholders.
        var visual: [(row: Int, vector: UnsafePointer<Float>)] = []
        var keepAlive: (VisionActivations, Projector.Activations)?
        if let m = multimodal, requests.contains(where: { $0.image != nil }) {
            let vc = m.config.visionConfig
            let acts = m.encoder.makeActivations(batch: B), projected = m.projector.makeActivations(rows: B * F)
            let pre = ImagePreprocessor(size: vc.imageSize, mean: m.config.imageMean, std: m.config.imageStd)
            for (b, r) in requests.enumerated() {
                guard let path = r.image else { continue }
                pre.process(try ImageDecoder.decode(path: path), into: acts.pixels.data + b * 3 * vc.imageSize * vc.imageSize)
                var f = 0
                for t in 0..<longest where tokens[b * longest + t] == imageToken && f < F {
                    visual.append((row: b * longest + t, vector: UnsafePointer(projected.output.data + (b * F + f) * c.hiddenSize)))
                    f += 1
                }
            }
            m.encoder.forward(acts)
            m.projector.forward(acts.features.reshaped([B * F, vc.hiddenSize]), projected)
            if m.moeActive, let moe = m.moe {
                // Parrot: each image's tokens routed by its own prompt's text
                let moeActs = moe.makeActivations(images: 1, tokens: F, maxGuidance: longest)
                for (b, r) in requests.enumerated() where r.image != nil {
                    m.routeImage(Tensor(projected.output.data + b * F * c.hiddenSize, shape: [F, c.hiddenSize]), guidanceTokens: prompts[b], moeActs)
                }
            }
            keepAlive = (acts, projected)
        }

        var samplers = seeds.map { Sampler(SamplingOptions(temperature: options.temperature, topK: options.topK, topP: options.topP, seed: $0)) }
        var outputs = [[Int32]](repeating: [], count: B), done = [Bool](repeating: false, count: B)
        var logits = decoder.forward(newTokens: tokens, cache: cache, visual: visual)
        withExtendedLifetime(keepAlive) {}
        var rowsPerSequence = longest
        for step in 0..<max(budget, 1) {
            var next = [Int32](repeating: pad, count: B)
            for b in 0..<B where !done[b] {
                let token = samplers[b].sample(logits.data + (b * rowsPerSequence + rowsPerSequence - 1) * V, vocabulary: V)
                let stopped = stop.contains(token)
                if !stopped { outputs[b].append(token); next[b] = token }
                if stopped || outputs[b].count >= budget || step == budget - 1 {
                    done[b] = true
                    try onFinish(InferResult(id: requests[b].id, output: tokenizer.decode(outputs[b]), tokens: outputs[b].count,
                                             finishReason: stopped ? "stop" : "length"))
                }
            }
            if done.allSatisfy({ $0 }) { break }
            logits = decoder.forward(newTokens: next, cache: cache)
            rowsPerSequence = 1
        }
    }
}
