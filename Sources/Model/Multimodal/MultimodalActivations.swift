import Tensor

/// Everything one multimodal forward/backward pass keeps: the decoder's activations for
/// B sequences of T tokens, the image encoding of up to B images, and which visual token goes
/// to which sequence row.
public final class MultimodalActivations: @unchecked Sendable {
    public let text: DecoderActivations
    public let images: ImageEncoding
    /// The gradient buffers Parrot's MoE backward needs (when the model has one).
    let moeBuffers: (dvisual: Tensor, dprojected: Tensor, dtext: Tensor)?
    private let moeArena: Arena?
    /// Per image slot of the vision batch, the sequence rows whose token embeddings guide its routing (non-answer text).
    public internal(set) var guidance: [[Int]] = []
    /// (visual row, sequence row) pairs: image i's f-th token is visual row i·F + f.
    public var splice: [(from: Int, to: Int)] = []
    /// Images in `vision.pixels` this step (the rest of its batch is ignored).
    public var imageCount = 0
    /// Whether the last forward routed the visual tokens through Parrot's MoE.
    public internal(set) var routedThroughMoE = false

    public var vision: VisionActivations { images.vision }
    public var projected: Projector.Activations { images.projected }
    public var moe: ParrotMoE.Activations? { images.moe }

    init(model: MultimodalModel, batch: Int, sequence: Int, images: Int) {
        text = model.decoder.makeActivations(batch: batch, sequence: sequence)
        self.images = model.makeImageEncoding(images: max(1, images), maxGuidance: sequence)
        let rows = max(1, images) * model.imageTokens, C = model.config.textConfig.hiddenSize
        if model.moe != nil {
            let (arena, l) = Arena.build { allocate in (allocate([rows, C]), allocate([rows, C]), allocate([batch * sequence, C])) }
            moeArena = arena
            moeBuffers = l
        } else {
            moeArena = nil
            moeBuffers = nil
        }
    }

    public var bytes: Int { text.bytes + images.bytes + (moeArena?.bytes ?? 0) }

    /// Parrot's load-balance term of the last forward (0 unless it routed images with load_balance_weight > 0).
    public var balanceLoss: Float { routedThroughMoE && imageCount > 0 ? (moe?.balanceLoss ?? 0) : 0 }

    /// Which rows guide each image slot's routing: the real, non-image rows of the sequence its
    /// tokens go to that are not part of an answer (a row is an answer token when the row before
    /// it has a target). Slots without an image (a text-only sequence) get none.
    func updateGuidance(tokensPerImage F: Int) {
        let T = text.sequence
        var sequenceOfSlot = [Int?](repeating: nil, count: vision.batch)
        for (from, to) in splice where sequenceOfSlot[from / F] == nil { sequenceOfSlot[from / F] = to / T }
        guidance = sequenceOfSlot.map { sequence in
            guard let b = sequence else { return [] }
            return (0..<T).map { b * T + $0 }.filter { n in
                let t = n % T
                return text.attentionMask[n] != 0 && text.replacedRows[n] == 0 && (t == 0 || text.targets[n - 1] < 0)
            }
        }
    }

    /// Puts image `image`'s F visual tokens on the first F `imageToken` placeholders of sequence `b`.
    public func assignImage(_ image: Int, toSequence b: Int, imageToken: Int32, visualTokens F: Int) {
        let T = text.sequence
        let placed = VisualTokens.placement(image: image, tokensPerImage: F, imageToken: imageToken,
                                            in: UnsafeBufferPointer(start: text.tokens + b * T, count: T), rowOffset: b * T)
        for (_, row) in placed { text.replacedRows[row] = 1 }
        splice += placed
    }

    /// Forgets the previous batch's images.
    public func resetImages() {
        splice.removeAll(keepingCapacity: true)
        imageCount = 0
        text.replacedRows.update(repeating: 0, count: text.batch * text.sequence)
    }
}
