import Data
import Foundation
import Tensor
import Tokenizer

/// Text-only replay: a seeded buffer of earlier text-only samples mixed into a stage.
extension Trainer {
    /// `dataset` plus a replay buffer: up to `buffer_size` text-only samples drawn (with the seed)
    /// from every earlier stage's data, weighted to make up `ratio` of each epoch's samples.
    func withReplay(_ dataset: StageDataset, _ replay: ReplaySpec, stageIndex: Int, tokenizer: SentencePieceTokenizer,
                    vision: StageDataset.Vision?) throws -> StageDataset {
        var pool = try textOnlyPool(replay.data, template: replay.template, stageIndex: stageIndex, key: "replay", tokenizer: tokenizer,
                                    sequenceLength: dataset.sequenceLength, vision: vision)
        var rng = SeededGenerator(seed: recipe.seed &+ UInt64(stageIndex) &* 7_919)
        pool.shuffle(using: &rng)
        let buffer = Array(pool.prefix(replay.bufferSize))
        // w·|buffer| / (w·|buffer| + current) = ratio
        let weight = replay.ratio / (1 - replay.ratio) * Double(dataset.samplesPerEpoch) / Double(buffer.count)
        log(String(format: "replay: %d text-only samples from %@, %.0f%% of each epoch (weight %.3f)", buffer.count,
                   replay.data == nil ? "earlier stages" : "replay.data", 100 * replay.ratio, weight))
        return dataset.adding(samples: buffer, weight: weight)
    }

    /// The text-only samples of `data` (rendered with `template`) or, without it, of every stage
    /// before `stageIndex`; an error naming `key` when there are none.
    func textOnlyPool(_ data: [DataSource]?, template: ChatTemplate, stageIndex: Int, key: String, tokenizer: SentencePieceTokenizer,
                      sequenceLength: Int, vision: StageDataset.Vision?) throws -> [Sample] {
        var pool: [Sample] = []
        let origins: [(data: [DataSource], template: ChatTemplate, system: String?, skipBad: Bool)] = data.map { [($0, template, nil, false)] }
            ?? recipe.stages[..<stageIndex].map { ($0.data, $0.template, $0.systemPrompt, $0.skipBadSamples) }
        for origin in origins {
            let d = try StageDataset(sources: origin.data, baseDirectory: FileManager.default.currentDirectoryPath, tokenizer: tokenizer,
                                     template: origin.template, system: origin.system, sequenceLength: sequenceLength,
                                     skipBadSamples: origin.skipBad, vision: vision)
            pool += d.sources.joined().filter { $0.image == nil }
        }
        guard !pool.isEmpty else { throw TrainError("\(key): \(data == nil ? "the earlier stages have" : "'\(key).data' has") no text-only samples") }
        return pool
    }
}
