import Data
import Foundation
import Model
import Tokenizer

/// The model and tokenizer a run's first stage starts from: the recipe's base checkpoint or a new
/// decoder, grown to the tokenizer's vocabulary, with the recipe's adapters (Wings), vision tower,
/// projector and Parrot's MoE attached fresh where the base lacks them.
struct InitialModel {
    let recipe: Recipe
    let log: (String) -> Void
    var seeds: Seeds { Seeds(run: recipe.seed) }

    func make() throws -> (AnyModel, any TextTokenizer) {
        guard let tokenizerPath = recipe.tokenizer ?? recipe.model.base else { throw TrainError("the recipe names no tokenizer") }
        var tokenizer = try TokenizerFiles.load(path: tokenizerPath)
        let ownTokenizer = tokenizer
        if !recipe.specialTokens.isEmpty { tokenizer = try tokenizer.addingSpecialTokens(recipe.specialTokens) }
        if let base = recipe.model.base, MultimodalModel.isMultimodal(directory: base) {
            return (.multimodal(try multimodalBase(base, tokenizer: tokenizer)), tokenizer)
        }
        var decoder = try textDecoder(tokenizer: tokenizer, tokenizerPath: tokenizerPath)
        if let base = recipe.model.base, recipe.tokenizer == nil {
            // The base's own tokenizer must fit its embedding; the recipe's special tokens may grow it.
            try ModelDirectory.checkVocabulary(ownTokenizer, vocabSize: decoder.config.vocabSize, directory: base)
        }
        if tokenizer.vocabularySize > decoder.config.vocabSize {
            log("vocabulary: \(decoder.config.vocabSize) -> \(tokenizer.vocabularySize) rows (new rows start at the mean embedding)")
            decoder = decoder.resizingVocabulary(to: tokenizer.vocabularySize)
        }
        if let wings = recipe.model.wings, decoder.config.wings == nil {
            try wings.validate(file: "'model.wings'", layerCount: decoder.config.numHiddenLayers)
            decoder = decoder.attaching(wings, seed: seeds.wings)
            log(decoder.adapterSummaries.last!)
        }
        if let lora = recipe.model.lora, decoder.config.lora == nil {
            try lora.validate(file: "'model.lora'", layerCount: decoder.config.numHiddenLayers)
            decoder = decoder.attaching(lora, seed: seeds.lora)
            log(decoder.adapterSummaries.last!)
        }
        guard let vision = recipe.model.vision else { return (.text(decoder), tokenizer) }
        return (.multimodal(try attachVision(vision, to: decoder, tokenizer: tokenizer, tokenizerPath: tokenizerPath)), tokenizer)
    }

    /// A multimodal base checkpoint, with the recipe's Wings and Parrot attached when it lacks them.
    func multimodalBase(_ base: String, tokenizer: any TextTokenizer) throws -> MultimodalModel {
        var model = try MultimodalModel.load(base)
        guard tokenizer.vocabularySize <= model.config.textConfig.vocabSize else {
            throw TrainError("\(base): the tokenizer has \(tokenizer.vocabularySize) pieces but the multimodal model \(model.config.textConfig.vocabSize) rows")
        }
        log("model: \(base) (multimodal, \(model.parameterCount) parameters)")
        if let wings = recipe.model.wings, model.config.textConfig.wings == nil {
            model = model.attaching(wings, seed: seeds.wings)
            log(model.decoder.adapterSummaries.last!)
        }
        if let lora = recipe.model.lora, model.config.textConfig.lora == nil {
            try lora.validate(file: "'model.lora'", layerCount: model.config.textConfig.numHiddenLayers)
            model = model.attaching(lora, seed: seeds.lora)
            log(model.decoder.adapterSummaries.last!)
        }
        if let parrot = recipe.model.parrot, model.config.parrot == nil {
            model = try model.attachingParrot(parrot, seed: seeds.parrot)
            log("parrot: \(Self.parrotSummary(model))")
        }
        return model
    }

    /// The base checkpoint's decoder, or a new one from `model.architecture`.
    func textDecoder(tokenizer: any TextTokenizer, tokenizerPath: String) throws -> DecoderModel {
        if let base = recipe.model.base {
            let decoder = try ModelDirectory.loadDecoder(base)
            log("model: \(base) (\(decoder.parameters.count) parameters)")
            return decoder
        }
        let config = recipe.model.architecture!
        guard config.vocabSize >= tokenizer.vocabularySize else {
            throw TrainError("model.architecture.vocab_size \(config.vocabSize) is smaller than the tokenizer's \(tokenizer.vocabularySize) pieces (\(tokenizerPath)\(recipe.specialTokens.isEmpty ? "" : " plus special_tokens"))")
        }
        let decoder = DecoderModel(config: config)
        decoder.initialize(seed: seeds.decoder, std: recipe.model.initializerRange ?? 0.02)
        log("model: new \(config.modelType) decoder, \(config.numHiddenLayers) layers x \(config.hiddenSize), \(decoder.parameters.count) parameters (seed \(recipe.seed))")
        return decoder
    }

    /// `decoder` with a vision tower (new from `architecture`, or pretrained from `base`) and a
    /// projector (new, or from `projector`), and Parrot's MoE, from `model.vision`.
    func attachVision(_ v: VisionSpec, to decoder: DecoderModel, tokenizer: any TextTokenizer, tokenizerPath: String) throws -> MultimodalModel {
        guard let imageToken = tokenizer.id(of: SpecialTokens.image) else {
            throw TrainError("\(tokenizerPath): the tokenizer has no '\(SpecialTokens.image)' piece; add it with special_tokens")
        }
        let pretrained = try v.base.map(PretrainedTower.open)
        guard let visionConfig = pretrained?.config ?? v.architecture else { throw TrainError("'model.vision' names no tower") }
        // A projector from a checkpoint computes as it did there: its activation and biases.
        var projectorAct = v.projectorHiddenAct ?? .gelu, projectorBias = true
        if let source = v.projector {
            let sourceConfig = try MultimodalConfig.load(path: source + "/" + ModelDirectory.configFile)
            if let asked = v.projectorHiddenAct, asked != sourceConfig.projectorHiddenAct {
                throw TrainError("'model.vision.projector_hidden_act' is \(asked.rawValue), but the projector of \(source) was trained with \(sourceConfig.projectorHiddenAct.rawValue) (leave the key out to use it)")
            }
            projectorAct = sourceConfig.projectorHiddenAct
            projectorBias = sourceConfig.projectorBias
        }
        var config = MultimodalConfig(textConfig: decoder.config, visionConfig: visionConfig, projectorType: v.projectorType,
                                      projectorHiddenAct: projectorAct, projectorBias: projectorBias,
                                      visionFeatureLayer: v.visionFeatureLayer, visionFeatureSelectStrategy: v.visionFeatureSelectStrategy,
                                      imageTokenIndex: Int(imageToken))
        config.imageAspectRatio = v.imageAspectRatio
        if let processor = pretrained?.processor {
            config.imageProcessor = processor
            config.imageMean = processor.imageMean
            config.imageStd = processor.imageStd
        } else if let pretrained, pretrained.config.modelType.hasPrefix("siglip") {
            config.imageProcessor = .siglip(side: pretrained.config.imageSize)
            config.imageMean = [0.5, 0.5, 0.5]
            config.imageStd = [0.5, 0.5, 0.5]
        } else if let pretrained {
            config.imageProcessor = .clip(side: pretrained.config.imageSize)
        }
        config.parrot = recipe.model.parrot
        try config.validate(file: v.base.map { $0 + "/" + ModelDirectory.configFile } ?? "'model.vision'")
        let m = MultimodalModel(config: config), std = recipe.model.initializerRange ?? 0.02
        withExtendedLifetime(decoder) { m.decoder.parameters.values.all.copy(from: decoder.parameters.values.all) }
        if let pretrained {
            try pretrained.load(into: m.encoder)
        } else {
            m.encoder.initialize(seed: seeds.visionTower, std: std)
        }
        if let source = v.projector {
            try m.projector.load(fromCheckpoint: source, towerWidth: visionConfig.hiddenSize, towerSource: v.base ?? "'model.vision.architecture'")
        } else {
            m.projector.initialize(seed: seeds.projector, std: std)
        }
        m.moe?.initialize(seed: seeds.parrot)
        if m.moe != nil { log("parrot: \(Self.parrotSummary(m))") }
        let c = visionConfig
        let tower = pretrained.map { "\($0.description) from \($0.directory)" } ?? "new \(c.modelType) tower"
        log("vision: \(tower), \(c.imageSize) px, patch \(c.patchSize), width \(c.hiddenSize), \(c.numHiddenLayers) layers, \(c.hiddenAct.rawValue); "
            + "\(v.projector.map { "projector from \($0)" } ?? "new \(v.projectorType.rawValue) projector") (\(projectorAct.rawValue)); "
            + "\(m.imageTokens) visual tokens per image (\(m.encoder.parameters.count + m.projector.parameters.count) parameters)")
        return m
    }

    /// "E SwiGLU experts of width I on the visual tokens, λ = …, N parameters".
    static func parrotSummary(_ m: MultimodalModel) -> String {
        let p = m.config.parrot!
        return "\(p.numExperts) SwiGLU experts of width \(p.intermediateSize) on the visual tokens, guided by the class token over the prompt, "
            + "λ = \(p.residualScale)\(p.topK.map { ", top-\($0)" } ?? ", dense") (\(m.moe!.parameters.count) parameters)"
    }
}
