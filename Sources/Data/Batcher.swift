import Foundation
import Tensor

/// Deals batches from a `StageDataset` in a seeded order: each epoch draws round(weight · size)
/// samples from every source (a seeded permutation, cycled when the weight exceeds 1), then
/// shuffles them all. The position (epoch, cursor) is all the state there is, so a resumed run
/// continues with exactly the batches the uninterrupted run would have seen.
public final class Batcher: @unchecked Sendable {
    public struct Position: Codable, Sendable, Equatable {
        public var epoch: Int
        public var cursor: Int
        public init(epoch: Int = 0, cursor: Int = 0) { self.epoch = epoch; self.cursor = cursor }
    }

    public let dataset: StageDataset
    public let batchSize: Int
    public let seed: UInt64
    /// This process's share of each global batch (data-parallel training): a batch of the job
    /// is `shard.count` · batchSize samples, dealt as one process would deal them, and shard i
    /// takes the i-th run of batchSize. (0, 1): one process.
    public let shard: (index: Int, count: Int)
    public private(set) var position: Position
    private var order: [(source: Int, index: Int)] = []

    /// Where a batcher stands after dealing `samples` samples from the start (every epoch deals
    /// `dataset.samplesPerEpoch`): for a batcher that deals a fixed number per optimizer step.
    public static func position(afterSamples samples: Int, of dataset: StageDataset) -> Position {
        let perEpoch = dataset.samplesPerEpoch
        precondition(perEpoch > 0, "a dataset with no samples per epoch")
        return Position(epoch: samples / perEpoch, cursor: samples % perEpoch)
    }

    public init(dataset: StageDataset, batchSize: Int, seed: UInt64, position: Position = Position(), shard: (index: Int, count: Int) = (0, 1)) {
        precondition(batchSize > 0 && shard.count >= 1 && (0..<shard.count).contains(shard.index))
        self.dataset = dataset
        self.batchSize = batchSize
        self.seed = seed
        self.shard = shard
        self.position = position
        order = Self.order(dataset, seed: seed, epoch: position.epoch)
    }

    /// The sample order of `epoch`.
    static func order(_ d: StageDataset, seed: UInt64, epoch: Int) -> [(source: Int, index: Int)] {
        var all: [(Int, Int)] = []
        for (s, samples) in d.sources.enumerated() {
            let k = Int((d.weights[s] * Double(samples.count)).rounded())
            var rng = SeededGenerator(seed: seed ^ (UInt64(epoch + 1) &* 0x9E37_79B9) ^ (UInt64(s + 1) &* 0xC2B2_AE35))
            var perm = Array(0..<samples.count)
            perm.shuffle(using: &rng)
            for i in 0..<k { all.append((s, perm[i % perm.count])) }
        }
        var rng = SeededGenerator(seed: seed &+ UInt64(epoch) &* 0x2545_F491)
        all.shuffle(using: &rng)
        return all.map { (source: $0.0, index: $0.1) }
    }

    /// Fills one batch of `batchSize` sequences of T = `dataset.sequenceLength` tokens:
    /// inputs, next-token targets (−100 where unsupervised or padding), the attention mask and,
    /// when asked, each sequence's image (an index into `dataset.images`, or −1) and the index of
    /// the source it came from. Returns the number of supervised targets. With a shard, deals the
    /// whole global batch and keeps this shard's run of it.
    @discardableResult
    public func next(tokens: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>,
                     attentionMask: UnsafeMutablePointer<Int32>, pad: Int32, images: UnsafeMutablePointer<Int32>? = nil,
                     sources: UnsafeMutablePointer<Int32>? = nil) -> Int {
        let T = dataset.sequenceLength
        var count = 0
        for g in 0..<(batchSize * shard.count) {
            if position.cursor >= order.count {
                position = Position(epoch: position.epoch + 1, cursor: 0)
                order = Self.order(dataset, seed: seed, epoch: position.epoch)
                precondition(!order.isEmpty, "a stage with no samples per epoch")
            }
            let (s, i) = order[position.cursor]
            position.cursor += 1
            guard g / batchSize == shard.index else { continue }  // another shard's sample
            let b = g % batchSize
            let sample = dataset.sources[s][i]
            let n = sample.tokens.count
            images?[b] = Int32(sample.image ?? -1)
            sources?[b] = Int32(s)
            for t in 0..<T {
                let row = b * T + t
                tokens[row] = t < n ? sample.tokens[t] : pad
                attentionMask[row] = t < n ? 1 : 0
                if t + 1 < n && sample.supervised[t + 1] {
                    targets[row] = sample.tokens[t + 1]
                    count += 1
                } else {
                    targets[row] = -100
                }
            }
        }
        return count
    }
}
