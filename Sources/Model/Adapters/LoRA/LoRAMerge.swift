import Tensor

extension DecoderModel {
    /// This decoder with its LoRA merged into the base weights, W ← W + (α/r)·B·A on every
    /// adapted projection, and no LoRA attached (other adapters stay); nil when it has none.
    /// The merged decoder computes what this one computes, to float rounding.
    public func mergingLoRA() -> DecoderModel? {
        guard let lora = adapters.lazy.compactMap({ $0 as? LoRAAdapter }).first else { return nil }
        var config = self.config
        config.lora = nil
        let merged = DecoderModel(config: config, adapters: adapterSpecs.filter { !($0 is LoRAConfig) })
        for (i, p) in merged.parameters.table.enumerated() { merged.parameters.value(at: i).copy(from: parameters.value(p.name)) }
        for (l, layer) in lora.slots.enumerated() {
            for (projection, pair) in layer {
                let w = merged.parameters.value(projection.path(layer: l) + ".weight")  // (out, in) += s · B (out, r) · A (r, in)
                GEMM.multiply(Matrix(parameters.value(pair.b)), Matrix(parameters.value(pair.a)), into: Matrix(w), alpha: lora.config.scale, beta: 1)
            }
        }
        return merged
    }
}

extension MultimodalModel {
    /// This model with its decoder's LoRA merged (``DecoderModel/mergingLoRA()``); nil without one.
    public func mergingLoRA() -> MultimodalModel? {
        guard let decoder = decoder.mergingLoRA() else { return nil }
        var config = self.config
        config.textConfig.lora = nil
        let merged = MultimodalModel(config: config)
        for (to, from) in zip(merged.parameterSets, [decoder.parameters] + parameterSets.dropFirst()) {
            for (i, p) in to.table.enumerated() { to.value(at: i).copy(from: from.value(p.name)) }
        }
        return merged
    }
}

extension AnyModel {
    /// The model with LoRA merged into its decoder's weights; nil without LoRA.
    public func mergingLoRA() -> AnyModel? {
        switch self {
        case .text(let d): d.mergingLoRA().map(AnyModel.text)
        case .multimodal(let m): m.mergingLoRA().map(AnyModel.multimodal)
        }
    }
}
