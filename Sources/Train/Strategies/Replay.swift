import Data
import Foundation
import Tensor

/// Text-only replay: a buffer of `buffer_size` text-only samples drawn (seeded) from `data` (what
/// the base model learned before this recipe) or, without it, from every earlier stage's data,
/// mixed into this stage so that they make up `ratio` of the samples of each epoch.
public struct ReplaySpec: Codable, Sendable, Equatable {
    public var ratio: Double
    public var bufferSize: Int
    public var data: [DataSource]?
    /// How `data`'s conversations are rendered (default chatml).
    /// nil: the model's chat template, else ChatML.
    public var template: ChatTemplate?

    public enum CodingKeys: String, CodingKey, CaseIterable { case ratio, bufferSize = "buffer_size", data, template }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ratio = try c.decode(Double.self, forKey: .ratio)
        bufferSize = try c.decodeIfPresent(Int.self, forKey: .bufferSize) ?? 1000
        data = try c.decodeIfPresent([DataSource].self, forKey: .data)
        template = try c.decodeIfPresent(ChatTemplate.self, forKey: .template)
    }
}

extension ReplaySpec {
    func validate(stageIndex index: Int, path p: [String], _ at: RecipeLocator) throws {
        guard index > 0 || data != nil else { throw at.error(p + ["replay"], "the first stage has no earlier data to replay: give 'replay.data'") }
        for (j, d) in (data ?? []).enumerated() {
            try at.requireFile(d.path, at: p + ["replay", "data", String(j), "path"], "replay data file not found: \(d.path)")
        }
        guard ratio > 0, ratio < 1 else { throw at.error(p + ["replay", "ratio"], "'replay.ratio' must lie strictly between 0 and 1") }
        guard bufferSize >= 1 else { throw at.error(p + ["replay", "buffer_size"], "'replay.buffer_size' must be at least 1") }
    }
}

/// Text-only replay: a seeded buffer of earlier text-only samples mixed into a stage's data.
final class Replay: ContinualStrategy {
    let spec: ReplaySpec
    /// Up to `buffer_size` text-only samples of the earlier stages (or `replay.data`), drawn with the stage's replay seed.
    let buffer: [Sample]
    let log: (String) -> Void

    init(spec: ReplaySpec, buffer: [Sample], log: @escaping (String) -> Void) {
        self.spec = spec
        self.buffer = buffer
        self.log = log
    }

    static func make(_ c: StrategyContext) throws -> Replay? {
        guard let spec = c.stage.replay else { return nil }
        var pool = try c.data.textOnlyPool(spec.data, template: spec.template, earlier: c.earlier, key: "replay")
        var rng = SeededGenerator(seed: c.seeds.replay)
        pool.shuffle(using: &rng)
        return Replay(spec: spec, buffer: Array(pool.prefix(spec.bufferSize)), log: c.log)
    }

    /// The stage's data plus the buffer, weighted to make up `ratio` of each epoch's samples:
    /// w·|buffer| / (w·|buffer| + current) = ratio.
    func extend(_ data: StageDataset) throws -> StageDataset {
        let weight = spec.ratio / (1 - spec.ratio) * Double(data.samplesPerEpoch) / Double(buffer.count)
        log(String(format: "replay: %d text-only samples from %@, %.0f%% of each epoch (weight %.3f)", buffer.count,
                   spec.data == nil ? "earlier stages" : "replay.data", 100 * spec.ratio, weight))
        return data.adding(samples: buffer, weight: weight)
    }
}
