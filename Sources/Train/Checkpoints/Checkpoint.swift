import Data
import Foundation
import Support
import Model
import SafeTensors
import Tensor
import Tokenizer

/// Where a run stands: enough to continue it exactly (`trainer_state.json`).
public struct TrainerState: Codable, Sendable, Equatable {
    public var stage: String
    public var stageIndex: Int
    /// Optimizer steps completed in this stage.
    public var step: Int
    public var totalSteps: Int
    /// Optimizer steps completed in the whole run.
    public var globalStep: Int
    /// The batcher's position after `step` steps.
    public var dataPosition: Batcher.Position
    public var seed: UInt64
    public var loss: Float

    public var stageComplete: Bool { step >= totalSteps }

    public init(stage: String, stageIndex: Int, step: Int, totalSteps: Int, globalStep: Int,
                dataPosition: Batcher.Position, seed: UInt64, loss: Float) {
        self.stage = stage
        self.stageIndex = stageIndex
        self.step = step
        self.totalSteps = totalSteps
        self.globalStep = globalStep
        self.dataPosition = dataPosition
        self.seed = seed
        self.loss = loss
    }

    enum CodingKeys: String, CodingKey {
        case stage, stageIndex = "stage_index", step, totalSteps = "total_steps", globalStep = "global_step"
        case dataPosition = "data_position", seed, loss
    }
}

/// Checkpoint directories: `OUTPUT/checkpoints/<stage>-step<N>/` holding `config.json`,
/// `model.safetensors`, `tokenizer.model`, `trainer_state.json`, `optimizer.safetensors` and
/// `recipe.yaml`, plus `OUTPUT/latest`, a one-line file naming the newest complete one.
///
/// A checkpoint is written into a temporary directory that is renamed into place only when
/// every file is complete, and `latest` is replaced (by rename) only after that; so a run
/// killed at any moment leaves `latest` naming a complete checkpoint.
public enum Checkpoint {
    /// The files besides the weights' (`model.safetensors`, or shards and their index) and the
    /// tokenizer's (`tokenizer.model`, or `tokenizer.json` and its config).
    public static let files = ["config.json", "trainer_state.json", "optimizer.safetensors", "recipe.yaml"]

    public static func name(stage: String, step: Int) -> String { "\(stage)-step\(step)" }

    /// Writes a checkpoint and points `latest` at it; returns its directory.
    /// `failpoint` (tests only) is called after each file and may throw to simulate a crash.
    @discardableResult
    public static func save(outputDir: String, decoder: DecoderModel, tokenizer: any TextTokenizer, optimizer: AdamW,
                            state: TrainerState, recipeYAML: String,
                            failpoint: ((String) throws -> Void)? = nil) throws -> String {
        try save(outputDir: outputDir, model: .text(decoder), tokenizer: tokenizer, optimizer: optimizer, state: state,
                 recipeYAML: recipeYAML, failpoint: failpoint)
    }

    /// `extraState`: the continual-learning strategies' tensors (EWC's Fisher and anchor,
    /// distillation's teacher), saved in `optimizer.safetensors` beside AdamW's moments.
    @discardableResult
    public static func save(outputDir: String, model: AnyModel, tokenizer: any TextTokenizer, generation: GenerationConfig? = nil,
                            optimizer: AdamW, state: TrainerState, recipeYAML: String, extraState: [(name: String, tensor: Tensor)] = [],
                            failpoint: ((String) throws -> Void)? = nil) throws -> String {
        let root = outputDir + "/checkpoints"
        let name = Self.name(stage: state.stage, step: state.step)
        let final = root + "/" + name
        let temporary = root + "/.tmp-\(name)-\(ProcessInfo.processInfo.processIdentifier)"
        let fm = FileManager.default
        try? fm.removeItem(atPath: temporary)
        try OutputPath.createDirectory(temporary)

        try model.save(to: temporary, metadata: ["stage": state.stage, "step": String(state.step)])
        try failpoint?("model.safetensors")
        try tokenizer.save(into: temporary)
        try generation?.save(into: temporary)
        try failpoint?("tokenizer")
        let moments = (optimizer.namedState + extraState).map { SafeTensorsWriter.Entry(name: $0.name, shape: $0.tensor.shape, data: UnsafeBufferPointer($0.tensor.buffer)) }
        try SafeTensorsWriter.write(moments, metadata: ["step": String(optimizer.step)], to: temporary + "/optimizer.safetensors")
        try failpoint?("optimizer.safetensors")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(state), to: temporary + "/trainer_state.json")
        try failpoint?("trainer_state.json")
        try AtomicFile.write(Data(recipeYAML.utf8), to: temporary + "/recipe.yaml")
        try failpoint?("recipe.yaml")

        if fm.fileExists(atPath: final) {
            let old = root + "/.old-\(name)-\(ProcessInfo.processInfo.processIdentifier)"
            try? fm.removeItem(atPath: old)
            try fm.moveItem(atPath: final, toPath: old)
            try? fm.removeItem(atPath: old)
        }
        guard rename(temporary, final) == 0 else { throw TrainError("\(final): cannot move the checkpoint into place") }
        try failpoint?("rename")
        try AtomicFile.write(Data("checkpoints/\(name)\n".utf8), to: outputDir + "/latest")
        return final
    }

    /// The checkpoint `latest` names, or nil when there is none. A `latest` naming something
    /// that is not a complete checkpoint is an error.
    public static func latest(outputDir: String) throws -> String? {
        let pointer = outputDir + "/latest"
        guard let data = FileManager.default.contents(atPath: pointer) else { return nil }
        let relative = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let dir = outputDir + "/" + relative
        for f in files where !FileManager.default.fileExists(atPath: dir + "/" + f) {
            throw TrainError("\(pointer) names \(relative), which lacks \(f)")
        }
        guard SafeTensorsCheckpoint.present(in: dir) else { throw TrainError("\(pointer) names \(relative), which lacks its weights") }
        guard TokenizerFiles.present(in: dir) else { throw TrainError("\(pointer) names \(relative), which lacks its tokenizer") }
        return dir
    }

    public static func readState(_ dir: String) throws -> TrainerState {
        let path = dir + "/trainer_state.json"
        guard let data = FileManager.default.contents(atPath: path) else { throw TrainError("\(path): not found") }
        do { return try JSONDecoder().decode(TrainerState.self, from: data) } catch let DecodingError.keyNotFound(key, _) {
            throw TrainError("\(path): missing the key '\(key.stringValue)' (the checkpoint is damaged; resume from another one)")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw TrainError("\(path): '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type (the checkpoint is damaged; resume from another one)")
        } catch {
            throw TrainError("\(path): not a trainer state (not JSON, or damaged; resume from another checkpoint)")
        }
    }

    /// Restores AdamW's moments and step (and `extraState`) from `dir/optimizer.safetensors`.
    public static func restore(_ optimizer: AdamW, extraState: [(name: String, tensor: Tensor)] = [], from dir: String) throws {
        let file = try SafeTensorsFile(path: dir + "/optimizer.safetensors")
        for (name, tensor) in optimizer.namedState + extraState { try file.read(name, into: tensor.buffer, shape: tensor.shape) }
        guard let step = file.metadata["step"].flatMap(Int.init) else {
            throw TrainError("\(file.path): no 'step' in the metadata")
        }
        optimizer.restore(step: step)
    }

    /// Removes leftovers of interrupted saves, then all but the newest `keep` checkpoints
    /// (by global step), never the last one of a stage (later stages and evaluations start
    /// from those) or the one `latest` names.
    public static func prune(outputDir: String, keep: Int) throws {
        let root = outputDir + "/checkpoints", fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: root) else { return }
        for n in names where n.hasPrefix(".tmp-") || n.hasPrefix(".old-") { try? fm.removeItem(atPath: root + "/" + n) }
        let latest = (try? Self.latest(outputDir: outputDir)).flatMap { $0 }.map { ($0 as NSString).lastPathComponent }
        let dated = names.filter { !$0.hasPrefix(".") }.compactMap { n -> (String, TrainerState)? in
            guard let s = try? readState(root + "/" + n) else { return nil }
            return (n, s)
        }.sorted { $0.1.globalStep > $1.1.globalStep }
        for (n, s) in dated.dropFirst(keep) where !s.stageComplete && n != latest {
            try fm.removeItem(atPath: root + "/" + n)
        }
    }
}
