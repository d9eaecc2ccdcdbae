import Data
import Model
import Tensor

/// One batch's forward and backward pass, for the decoder alone (text stages) or the whole
/// multimodal model (its images copied into the tower's pixels and spliced over `<image>` slots).
final class StepRunner {
    let model: AnyModel
    let multimodal: MultimodalModel?
    /// Route visual tokens through Parrot's MoE (the stage's `parrot_moe`).
    let moe: Bool
    let pad: Int32
    /// The decoder's activations (B, T): tokens, targets, mask, logits.
    let text: DecoderActivations
    let mm: MultimodalActivations?
    /// Each sequence's image index in the dataset, or −1.
    private var images: [Int32]
    /// Each sequence's source index in the batcher's dataset.
    private(set) var rowSources: [Int32]

    init(model: AnyModel, multimodal: MultimodalModel?, moe: Bool, batch B: Int, sequence T: Int, pad: Int32) {
        self.model = model
        self.multimodal = multimodal
        self.moe = moe
        self.pad = pad
        mm = multimodal?.makeActivations(batch: B, sequence: T)
        text = mm?.text ?? model.decoder.makeActivations(batch: B, sequence: T)
        images = Array(repeating: -1, count: B)
        rowSources = Array(repeating: -1, count: B)
    }

    /// Fills the next batch of `batcher`.
    func load(_ batcher: Batcher) {
        images.withUnsafeMutableBufferPointer { images in
            rowSources.withUnsafeMutableBufferPointer { sources in
                _ = batcher.next(tokens: text.tokens, targets: text.targets, attentionMask: text.attentionMask, pad: pad,
                                 images: images.baseAddress, sources: sources.baseAddress)
            }
        }
        guard let mm, let m = multimodal else { return }
        mm.resetImages()
        let size = 3 * m.config.visionConfig.imageSize * m.config.visionConfig.imageSize
        for (b, index) in images.enumerated() where index >= 0 {
            batcher.dataset.images[Int(index)].withUnsafeBufferPointer { (mm.vision.pixels.data + b * size).update(from: $0.baseAddress!, count: size) }
            mm.assignImage(b, toSequence: b, imageToken: Int32(m.config.imageTokenIndex), visualTokens: m.imageTokens)
            mm.imageCount += 1
        }
    }

    /// The loaded batch through the model: logits in `text.logits`.
    func forward() {
        if let mm, let m = multimodal { m.forward(mm, moe: moe) } else { model.decoder.forward(text) }
    }

    /// Parrot's optional load-balance term of the last forward (0 unless load_balance_weight > 0).
    var balanceLoss: Float { mm?.balanceLoss ?? 0 }

    /// The forward pass and its loss: mean cross-entropy over the scored tokens (plus Parrot's
    /// balance term), and their count.
    func forwardLoss() -> (loss: Float, count: Int) {
        forward()
        let (loss, count) = model.decoder.loss(text)
        return (loss + balanceLoss, count)
    }

    /// `extra`: other losses' gradients to add on the way (a strategy's distillation terms).
    func backward(lossScale: Float, extra: ExtraGradients = ExtraGradients()) {
        if let mm, let m = multimodal { m.backward(mm, lossScale: lossScale, extra: extra) }
        else { model.decoder.backward(text, lossScale: lossScale, extraLogitGradient: extra.logits) }
    }

    /// Whether sequence b of the loaded batch has an image (its slot b in the tower's batch).
    func hasImage(_ b: Int) -> Bool { images[b] >= 0 }

    /// Puts the loaded batch (tokens, targets, mask, images on their slots) into `other`, the
    /// activations of another model of the same shapes (a teacher's).
    func copyBatch(into other: MultimodalActivations) {
        let N = text.batch * text.sequence
        other.text.tokens.update(from: text.tokens, count: N)
        other.text.targets.update(from: text.targets, count: N)
        other.text.attentionMask.update(from: text.attentionMask, count: N)
        guard let mm, let m = multimodal else { return }
        other.resetImages()
        let size = 3 * m.config.visionConfig.imageSize * m.config.visionConfig.imageSize
        for b in images.indices where images[b] >= 0 {
            (other.vision.pixels.data + b * size).update(from: mm.vision.pixels.data + b * size, count: size)
            other.assignImage(b, toSequence: b, imageToken: Int32(m.config.imageTokenIndex), visualTokens: m.imageTokens)
            other.imageCount += 1
        }
    }

    /// Mean loss over every sample of `dataset`, batched like training (held-out `eval_data`).
    func meanLoss(over dataset: StageDataset) -> Float {
        let B = text.batch, T = text.sequence
        let evalBatcher = Batcher(dataset: dataset, batchSize: B, seed: 0)
        var sum = 0.0, count = 0, remaining = dataset.samplesPerEpoch
        while remaining > 0 {
            load(evalBatcher)
            // The last batch wraps into the next epoch: its extra rows score nothing.
            if remaining < B { (text.targets + remaining * T).update(repeating: -100, count: (B - remaining) * T) }
            remaining -= B
            let (loss, n) = forwardLoss()
            sum += Double(loss) * Double(n)
            count += n
        }
        return count > 0 ? Float(sum / Double(count)) : .nan
    }
}
