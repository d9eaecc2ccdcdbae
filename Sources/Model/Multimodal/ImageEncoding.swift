import Tensor

/// Buffers that turn up to B images into visual tokens: the tower's activations (fill
/// `vision.pixels` with preprocessed images), the projector's and, with Parrot, the MoE's.
public final class ImageEncoding: @unchecked Sendable {
    public let vision: VisionActivations
    public let projected: Projector.Activations
    public let moe: ParrotMoE.Activations?

    init(model m: MultimodalModel, images B: Int, maxGuidance M: Int, moeImages: Int) {
        vision = m.encoder.makeActivations(batch: B)
        projected = m.projector.makeActivations(rows: B * m.imageTokens)
        moe = m.moe?.makeActivations(images: moeImages, tokens: m.imageTokens, maxGuidance: M)
    }

    public var bytes: Int { vision.arena.bytes + projected.arena.bytes + (moe?.arena.bytes ?? 0) }
}

/// What guides Parrot's MoE, per image: the embeddings of its prompt's non-answer text.
public enum ParrotGuidance {
    /// A training batch: image b is guided by `rows[b]` of `text` (the batch's input embeddings, (N, C)).
    case rows(text: Tensor, rows: [[Int]])
    /// Inference: image b is guided by the embeddings of `tokens[b]` (its prompt; image
    /// placeholders are left out), each image routed on its own; nil: slot b holds no image.
    case prompts([[Int32]?])
}

/// How Parrot's router saw one image: its routing weights p (E) and its guidance vector
/// g = αT (C), the prompt's text embeddings pooled by the class token's attention.
public struct ParrotRoute: Sendable {
    public let weights: [Float]
    public let guide: [Float]

    public init(weights: [Float], guide: [Float]) {
        self.weights = weights
        self.guide = guide
    }
}

extension MultimodalModel {
    /// Buffers for up to `images` images; the MoE's guidance may span up to `maxGuidance` text
    /// rows. `routedOneByOne`: the MoE routes one image at a time (inference's `.prompts`
    /// guidance), so its buffers hold one image.
    public func makeImageEncoding(images: Int, maxGuidance: Int, routedOneByOne: Bool = false) -> ImageEncoding {
        ImageEncoding(model: self, images: images, maxGuidance: maxGuidance, moeImages: routedOneByOne ? 1 : images)
    }

    /// The one way images become visual tokens, in training, evaluation and inference alike:
    /// the pixels of all `e.vision.batch` images through the tower and the projector and, when
    /// `guidance` is given and the model has Parrot's MoE, the MoE. Returns the tokens,
    /// (images·F, C) with image b's at rows b·F ..< b·F + F, and the MoE's routing weights of
    /// each image routed one by one (`.prompts`; nil for a slot without an image).
    public func visualTokens(_ e: ImageEncoding, guidance: ParrotGuidance?) -> (tokens: Tensor, routing: [ParrotRoute?]) {
        let F = imageTokens, C = config.textConfig.hiddenSize
        encoder.forward(e.vision)
        projector.forward(e.vision.features.reshaped([e.vision.batch * F, config.visionConfig.hiddenSize]), e.projected)
        guard let guidance, let moe, let m = e.moe else { return (e.projected.output, []) }
        switch guidance {
        case .rows(let text, let rows):
            // H' = MoE(H, text) into the MoE's own output: the backward still needs H
            moe.forward(h: e.projected.output, text: text, guidance: rows, m)
            return (m.output, [])
        case .prompts(let prompts):
            // Each image routed alone, in place
            let routing = prompts.enumerated().map { b, tokens in
                tokens.map { route(Tensor(e.projected.output.data + b * F * C, shape: [F, C]), guidanceTokens: $0, m) }
            }
            return (e.projected.output, routing)
        }
    }

    /// Parrot at inference: replaces one image's projected tokens `visual` (F, C) in place with
    /// the MoE's output, guided by the embeddings of `guidanceTokens` (its prompt's text, without
    /// the image placeholders). Returns its route. `acts` needs room for one image.
    private func route(_ visual: Tensor, guidanceTokens: [Int32], _ acts: ParrotMoE.Activations) -> ParrotRoute {
        let moe = moe!, C = config.textConfig.hiddenSize, F = imageTokens
        let tokens = Array(guidanceTokens.filter { $0 != Int32(config.imageTokenIndex) }.suffix(acts.maxGuidance))
        let text = Tensor(acts.guidanceText.data, shape: [tokens.count, C])
        if !tokens.isEmpty {
            tokens.withUnsafeBufferPointer { Embedding.forward(out: text, ids: $0.baseAddress!, table: decoder.embeddingTable) }
        }
        moe.forward(h: Tensor(visual.data, shape: [F, C]), text: text, guidance: [Array(0..<tokens.count)], acts)
        visual.data.update(from: acts.output.data, count: F * C)
        return ParrotRoute(weights: Array(UnsafeBufferPointer(start: acts.weights.data, count: moe.config.numExperts)),
                           guide: Array(UnsafeBufferPointer(start: acts.guide.data, count: C)))
    }
}
