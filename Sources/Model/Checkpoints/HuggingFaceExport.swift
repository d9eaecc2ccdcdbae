import Data
import Foundation
import SafeTensors
import Support
import Tokenizer

/// Writes a model as transformers loads it unmodified with `from_pretrained`:
/// `LlavaForConditionalGeneration` for a multimodal model (tensors in the layout `save_pretrained`
/// writes, ``WeightLayout/llava``), `LlamaForCausalLM` / `Qwen2ForCausalLM` for a decoder;
/// `config.json`, `model.safetensors` (sharded above 5 GB), the tokenizer's files,
/// `generation_config.json`, and for LLaVA `preprocessor_config.json` and `processor_config.json`.
///
/// Tensors transformers has no place for, Wings' learners and Parrot's MoE, are refused unless
/// `adaptersBeside`: then the model is written without them and they go, under their own
/// names, into ``adaptersFile`` with their config in ``adaptersConfigFile``, so nothing is lost
/// (the exported model computes what the base did before they were attached).
public enum HuggingFaceExport {
    public static let adaptersFile = "mllm_cl_adapters.safetensors"
    public static let adaptersConfigFile = "mllm_cl_adapters.json"

    /// What was written, for the command's summary.
    public struct Summary: Sendable {
        public let architecture: String
        public let tensors: Int
        public let parameters: Int
        /// Tensors written beside the model (``adaptersFile``).
        public let besideTensors: Int
    }

    public static func export(_ loaded: LoadedModel, source: String, to out: String, adaptersBeside: Bool = false) throws -> Summary {
        let decoder = loaded.decoder
        var adapterNames: [String] = [], adapterConfig: [String: Any] = [:]
        if decoder.config.wings != nil || decoder.config.lora != nil {
            adapterNames += decoder.parameters.table[decoder.layout.coreCount...].map(\.name)
        }
        if let wings = decoder.config.wings { adapterConfig["wings"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(wings)) }
        if let lora = decoder.config.lora { adapterConfig["lora"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(lora)) }
        if let parrot = loaded.multimodal?.config.parrot {
            adapterNames += loaded.multimodal!.moe!.parameters.table.map(\.name)
            adapterConfig["parrot"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(parrot))
        }
        if !adapterNames.isEmpty && !adaptersBeside {
            let what = [decoder.config.wings != nil ? "Wings' learners ('wings')" : nil, decoder.config.lora != nil ? "LoRA ('lora')" : nil,
                        loaded.multimodal?.config.parrot != nil ? "Parrot's MoE ('parrot')" : nil]
                .compactMap { $0 }.joined(separator: " and ")
            let merge = decoder.config.lora != nil ? "pass --merge-lora to merge LoRA into the weights, or " : "pass "
            throw ModelError("\(source)/config.json: the model has \(what), which transformers' \(loaded.multimodal == nil ? decoder.config.architecture : "LlavaForConditionalGeneration") has no place for; \(merge)--adapters-beside to write the model without them and their \(adapterNames.count) tensors into \(adaptersFile)")
        }
        if let m = loaded.multimodal, m.config.projectorType != .mlp2xGELU {
            throw ModelError("\(source)/config.json: 'mm_projector_type' is \(m.config.projectorType.rawValue); transformers' LLaVA projector is always two linear layers (mlp2x_gelu)")
        }
        try OutputPath.createDirectory(out)
        let skip = Set(adapterNames)
        var entries: [SafeTensorsWriter.Entry] = [], identity: [(String, [Float])] = []
        let architectureName: String
        if let m = loaded.multimodal {
            architectureName = "LlavaForConditionalGeneration"
            for p in m.parameterSets { entries += p.safeTensorsEntries.filter { !skip.contains($0.name) } }
            if !m.config.visionConfig.postLayerNorm {
                // transformers' towers have a final LayerNorm that LLaVA never applies: write it as the identity
                let C = m.config.visionConfig.hiddenSize, p = VisionEncoder.defaultPrefix + "post_layernorm."
                identity = [(p + "weight", [Float](repeating: 1, count: C)), (p + "bias", [Float](repeating: 0, count: C))]
            }
            try AtomicFile.write(llavaConfig(m.config), to: out + "/" + ModelDirectory.configFile)
            try AtomicFile.write(processorConfig(m.config).jsonData(), to: out + "/" + ImageProcessorConfig.file)
            try AtomicFile.write(llavaProcessor(m.config), to: out + "/processor_config.json")
        } else {
            architectureName = decoder.config.architecture
            entries = decoder.parameters.safeTensorsEntries.filter { !skip.contains($0.name) }
            var config = decoder.config
            config.wings = nil
            config.lora = nil
            try AtomicFile.write(config.jsonData(), to: out + "/" + ModelDirectory.configFile)
        }
        let layout: WeightLayout = loaded.multimodal == nil ? .native : .llava
        let written = identity.map { name, values in
            let copy = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
            _ = copy.initialize(from: values)
            return (name, copy)
        }
        defer { for (_, b) in written { b.deallocate() } }
        let renamed = entries.map { SafeTensorsWriter.Entry(name: layout.storedName($0.name), shape: $0.shape, data: $0.data) }
            + written.map { SafeTensorsWriter.Entry(name: layout.storedName($0.0), shape: [$0.1.count], data: UnsafeBufferPointer($0.1)) }
        try SafeTensorsCheckpoint.write(renamed, metadata: ["format": "pt"], into: out)
        try saveTokenizer(loaded.tokenizer, config: decoder.config, into: out)
        try loaded.generation?.save(into: out)
        var beside = 0
        if !adapterNames.isEmpty {
            let adapterEntries = loaded.model.parameterSets.flatMap(\.safeTensorsEntries).filter { skip.contains($0.name) }
            try SafeTensorsWriter.write(adapterEntries, metadata: ["format": "pt", "source": source], to: out + "/" + adaptersFile)
            try AtomicFile.write(JSONSerialization.data(withJSONObject: adapterConfig, options: [.prettyPrinted, .sortedKeys]), to: out + "/" + adaptersConfigFile)
            beside = adapterEntries.count
        }
        return Summary(architecture: architectureName, tensors: renamed.count, parameters: renamed.reduce(0) { $0 + $1.data.count }, besideTensors: beside)
    }

    /// transformers' `LlavaConfig`: the decoder's config as `text_config`, the tower's as `vision_config`.
    static func llavaConfig(_ c: MultimodalConfig) throws -> Data {
        var text = try JSONSerialization.jsonObject(with: c.textConfig.jsonData()) as! [String: Any]
        text.removeValue(forKey: "wings")
        text.removeValue(forKey: "lora")
        var vision = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c.visionConfig)) as! [String: Any]
        if !c.visionConfig.hasClassToken { vision["vision_use_head"] = false }
        let object: [String: Any] = [
            "architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "text_config": text, "vision_config": vision,
            "image_token_index": c.imageTokenIndex, "projector_hidden_act": c.projectorHiddenAct.rawValue,
            "multimodal_projector_bias": c.projectorBias, "vision_feature_layer": c.visionFeatureLayer,
            // transformers' `default` drops the first token whatever it is: a tower without a class token keeps all with `full`
            "vision_feature_select_strategy": c.visionConfig.hasClassToken ? c.visionFeatureSelectStrategy : "full",
            "image_seq_length": c.imageTokens,
            "tie_word_embeddings": c.textConfig.tieWordEmbeddings, "torch_dtype": "float32",
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// The model's processor config, or for a checkpoint without one the fixed resize its tower takes
    /// (this project's pad-to-square has no place in transformers' processor: pad images beforehand).
    static func processorConfig(_ c: MultimodalConfig) -> ImageProcessorConfig {
        if let p = c.imageProcessor { return p }
        let side = c.visionConfig.imageSize
        var p = ImageProcessorConfig.clip(side: side, mean: c.imageMean, std: c.imageStd)
        p.size = .init(height: side, width: side)
        p.doCenterCrop = false
        p.cropSize = nil
        return p
    }

    /// `processor_config.json` for transformers' LlavaProcessor (how it expands `<image>`).
    static func llavaProcessor(_ c: MultimodalConfig) throws -> Data {
        let object: [String: Any] = [
            "processor_class": "LlavaProcessor", "patch_size": c.visionConfig.patchSize,
            "vision_feature_select_strategy": c.visionConfig.hasClassToken ? c.visionFeatureSelectStrategy : "full",
            "num_additional_image_tokens": c.visionConfig.hasClassToken ? 1 : 0, "image_token": SpecialTokens.image,
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// The tokenizer's files; a SentencePiece model without a `tokenizer_config.json` gets one
    /// naming LlamaTokenizer (BOS added, as this project encodes), so AutoTokenizer can load it.
    static func saveTokenizer(_ tokenizer: any TextTokenizer, config: DecoderConfig, into out: String) throws {
        try tokenizer.save(into: out)
        let path = out + "/" + TokenizerFiles.config
        guard !FileManager.default.fileExists(atPath: path), !tokenizer.isHuggingFace else { return }
        var object: [String: Any] = ["tokenizer_class": "LlamaTokenizer", "add_bos_token": tokenizer.bosID != nil, "add_eos_token": false,
                                     "legacy": true, "model_max_length": config.maxPositionEmbeddings, "clean_up_tokenization_spaces": false]
        if let b = tokenizer.bosID { object["bos_token"] = tokenizer.piece(b) }
        if let e = tokenizer.eosID { object["eos_token"] = tokenizer.piece(e) }
        if let sp = tokenizer as? SentencePieceTokenizer { object["unk_token"] = sp.piece(sp.unknownID) }
        if let p = tokenizer.padID { object["pad_token"] = tokenizer.piece(p) }
        try AtomicFile.write(JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), to: path)
    }
}
