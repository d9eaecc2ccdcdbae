import Data
import Foundation
import SafeTensors
import Support
import Tensor

/// Decoder + vision tower + projector in one checkpoint directory: one `config.json`
/// (`MultimodalConfig`) and one `model.safetensors` holding `model.*`/`lm_head.*` (the decoder,
/// named as in a text-only checkpoint, so one loads into the other), `vision_tower.*` and
/// `multi_modal_projector.*`.
public final class MultimodalModel: @unchecked Sendable {
    public let config: MultimodalConfig
    public let decoder: DecoderModel
    public let encoder: VisionEncoder
    public let projector: Projector
    /// Parrot's MoE (config `parrot`), applied to the projected tokens of every forward that
    /// asks for it (Parrot's stage 1 trains the projector with it off).
    public let moe: ParrotMoE?

    public init(config: MultimodalConfig) {
        self.config = config
        decoder = DecoderModel(config: config.textConfig)
        encoder = VisionEncoder(config: config.visionConfig, selectLayer: config.visionFeatureLayer,
                                keepClassToken: config.visionFeatureSelectStrategy == "full")
        projector = Projector(kind: config.projectorType, inputSize: config.visionConfig.hiddenSize, outputSize: config.textConfig.hiddenSize,
                              activation: config.projectorHiddenAct, bias: config.projectorBias)
        moe = config.parrot.map { ParrotMoE(config: $0, hidden: config.textConfig.hiddenSize) }
    }

    /// The parameter tables (each with its own arenas): decoder, tower, projector (, MoE).
    public var parameterSets: [Parameters] { [decoder.parameters, encoder.parameters, projector.parameters] + (moe.map { [$0.parameters] } ?? []) }

    public var parameterCount: Int { parameterSets.reduce(0) { $0 + $1.count } }

    /// Makes exactly the tensors matching `patterns` trainable, in all three parts; returns their names.
    @discardableResult
    public func setTrainable(matching patterns: [String]) -> [String] {
        parameterSets.flatMap { $0.setTrainable(matching: patterns) }
    }

    /// Visual tokens per image.
    public var imageTokens: Int { encoder.featureCount }

    public static func isMultimodal(directory: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: directory + "/" + ModelDirectory.configFile),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return json["text_config"] != nil
    }

    /// Loads `path` (`config.json`, `preprocessor_config.json` when present, the weights in one
    /// file or shards, named as this project saves them or in either layout of transformers'
    /// LlavaForConditionalGeneration: ``WeightLayout``); every tensor in the files must belong
    /// to one of the parts (a SigLIP tower's attention-pooling `head`, which LLaVA does not use,
    /// is left unread).
    public static func load(_ path: String) throws -> MultimodalModel {
        var config = try MultimodalConfig.load(path: path + "/" + ModelDirectory.configFile)
        let weights = try CheckpointWeights.open(directory: path)
        let tower = VisionEncoder.defaultPrefix
        config.visionConfig.postLayerNorm = weights.contains(tower + "post_layernorm.weight")
        let model = MultimodalModel(config: config)
        try CheckpointWeights.load(model.parameterSets, from: weights, others: VisionEncoder.unusedTensors.map { tower + $0 },
                                   tiedEmbedding: model.config.textConfig.tieWordEmbeddings ? "model.embed_tokens.weight" : nil)
        return model
    }

    /// Writes `config.json` and the weights (`SafeTensorsCheckpoint.write`), each under a temporary name, then renamed.
    public func save(to path: String, metadata: [String: String] = [:], maxShardBytes: Int = SafeTensorsCheckpoint.defaultMaxShardBytes) throws {
        try OutputPath.createDirectory(path)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(config), to: path + "/" + ModelDirectory.configFile)
        if let processor = config.imageProcessor {
            try AtomicFile.write(processor.jsonData(), to: path + "/" + ImageProcessorConfig.file)
        }
        var meta = metadata
        meta["format"] = "pt"
        try SafeTensorsCheckpoint.write(parameterSets.flatMap(\.safeTensorsEntries), metadata: meta, into: path, maxShardBytes: maxShardBytes)
    }
}

extension MultimodalModel {
    /// A copy with the decoder adapter `spec` attached fresh (`DecoderModel.attaching`); tower,
    /// projector and MoE copied.
    public func attaching(_ spec: any DecoderAdapterSpec, seed: UInt64) -> MultimodalModel {
        var c = config
        c.textConfig = spec.recorded(in: c.textConfig)
        let grown = MultimodalModel(config: c)
        let attached = decoder.attaching(spec, seed: seed)
        // `values.all` is a view: keep its owner alive across the copy
        withExtendedLifetime(attached) { grown.decoder.parameters.values.all.copy(from: attached.parameters.values.all) }
        for (dst, src) in zip(grown.parameterSets.dropFirst(), parameterSets.dropFirst()) { dst.values.all.copy(from: src.values.all) }
        return grown
    }
}

extension MultimodalModel {
    /// A copy with a fresh Parrot MoE (every other tensor copied); the tower must keep its class token.
    public func attachingParrot(_ parrot: ParrotConfig, seed: UInt64) throws -> MultimodalModel {
        var c = config
        c.parrot = parrot
        try c.validate(file: "'model.parrot'")
        let grown = MultimodalModel(config: c)
        for (dst, src) in zip(grown.parameterSets, parameterSets) { dst.values.all.copy(from: src.values.all) }
        grown.moe!.initialize(seed: seed)
        return grown
    }
}
