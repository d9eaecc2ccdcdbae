import Foundation

/// What a model directory holds: a decoder alone, or a decoder with a vision tower and projector
/// (and its adapters and Parrot's MoE). Training, evaluation and inference take either.
public enum AnyModel: @unchecked Sendable {
    case text(DecoderModel)
    case multimodal(MultimodalModel)

    public var decoder: DecoderModel {
        switch self {
        case .text(let d): d
        case .multimodal(let m): m.decoder
        }
    }

    public var multimodal: MultimodalModel? {
        if case .multimodal(let m) = self { return m }
        return nil
    }

    public var parameterSets: [Parameters] { multimodal?.parameterSets ?? [decoder.parameters] }
    public var parameterCount: Int { parameterSets.reduce(0) { $0 + $1.count } }

    /// Loads a checkpoint directory, multimodal or not.
    public static func load(_ dir: String) throws -> AnyModel {
        MultimodalModel.isMultimodal(directory: dir) ? .multimodal(try MultimodalModel.load(dir)) : .text(try ModelDirectory.loadDecoder(dir))
    }

    /// Writes `config.json` and `model.safetensors` into `dir`.
    public func save(to dir: String, metadata: [String: String]) throws {
        switch self {
        case .text(let d): try ModelDirectory.save(d, to: dir, metadata: metadata)
        case .multimodal(let m): try m.save(to: dir, metadata: metadata)
        }
    }

    /// Makes the tensors matching `patterns` trainable; with `decoderOnly`, only the decoder's
    /// (a text stage leaves the tower and projector frozen). Returns the names.
    public func setTrainable(matching patterns: [String], decoderOnly: Bool) -> [String] {
        guard let m = multimodal else { return decoder.parameters.setTrainable(matching: patterns) }
        if decoderOnly {
            for p in m.parameterSets.dropFirst() { p.setTrainable(matching: []) }
            return m.decoder.parameters.setTrainable(matching: patterns)
        }
        return m.setTrainable(matching: patterns)
    }
}
