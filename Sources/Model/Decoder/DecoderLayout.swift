/// Slots of one decoder layer's tensors (nil: a bias the config leaves out).
struct LayerSlots {
    let inputNorm, q, k, v, o, postNorm, gate, up, down: ParameterSlot
    let qBias, kBias, vBias, oBias: ParameterSlot?
    /// LLaMA's `mlp_bias`.
    let gateBias, upBias, downBias: ParameterSlot?
}

/// A decoder's parameter table and the slots of its tensors, declared once (Hugging Face
/// names); the adapters its config attaches declare theirs after the decoder's own.
///
///     model.embed_tokens.weight                       (V, C)
///     model.layers.{l}.input_layernorm.weight          (C)
///     model.layers.{l}.self_attn.{q,k,v,o}_proj.weight (QC, C), (KC, C), (KC, C), (C, QC)  (+ biases: Qwen2, attention_bias)
///     model.layers.{l}.post_attention_layernorm.weight (C)
///     model.layers.{l}.mlp.{gate,up,down}_proj.weight  (I, C), (I, C), (C, I)   (+ biases: mlp_bias)
///     model.norm.weight                               (C)
///     lm_head.weight                                  (V, C)   (absent when tied to the embedding)
struct DecoderLayout {
    let table: [ParameterInfo]
    let embed: ParameterSlot
    let layers: [LayerSlots]
    let finalNorm: ParameterSlot
    /// The head: `lm_head.weight`, or the embedding when tied.
    let lmHead: ParameterSlot
    /// Tensors of the decoder itself; the adapters' come after them.
    let coreCount: Int
    let adapters: [any DecoderAdapter]

    /// `specs`: the adapters to attach (by default those `c` records).
    init(_ c: DecoderConfig, adapters specs: [any DecoderAdapterSpec]? = nil) {
        let C = c.hiddenSize, QC = c.numAttentionHeads * c.headSize, KC = c.kvSize, I = c.intermediateSize
        var t = ParameterTableBuilder()
        embed = t.add("model.embed_tokens.weight", [c.vocabSize, C])
        layers = (0..<c.numHiddenLayers).map { l in
            let p = "model.layers.\(l)."
            let inputNorm = t.add(p + "input_layernorm.weight", [C])
            let q = t.add(p + "self_attn.q_proj.weight", [QC, C]), qBias = t.add(p + "self_attn.q_proj.bias", [QC], if: c.qkvBias)
            let k = t.add(p + "self_attn.k_proj.weight", [KC, C]), kBias = t.add(p + "self_attn.k_proj.bias", [KC], if: c.qkvBias)
            let v = t.add(p + "self_attn.v_proj.weight", [KC, C]), vBias = t.add(p + "self_attn.v_proj.bias", [KC], if: c.qkvBias)
            let o = t.add(p + "self_attn.o_proj.weight", [C, QC]), oBias = t.add(p + "self_attn.o_proj.bias", [C], if: c.outputBias)
            let postNorm = t.add(p + "post_attention_layernorm.weight", [C])
            let gate = t.add(p + "mlp.gate_proj.weight", [I, C]), gateBias = t.add(p + "mlp.gate_proj.bias", [I], if: c.mlpBias)
            let up = t.add(p + "mlp.up_proj.weight", [I, C]), upBias = t.add(p + "mlp.up_proj.bias", [I], if: c.mlpBias)
            let down = t.add(p + "mlp.down_proj.weight", [C, I]), downBias = t.add(p + "mlp.down_proj.bias", [C], if: c.mlpBias)
            return LayerSlots(inputNorm: inputNorm, q: q, k: k, v: v, o: o, postNorm: postNorm, gate: gate, up: up, down: down,
                              qBias: qBias, kBias: kBias, vBias: vBias, oBias: oBias, gateBias: gateBias, upBias: upBias, downBias: downBias)
        }
        finalNorm = t.add("model.norm.weight", [C])
        lmHead = t.add("lm_head.weight", [c.vocabSize, C], if: !c.tieWordEmbeddings) ?? embed
        coreCount = t.table.count
        adapters = (specs ?? c.adapterSpecs).map { $0.attach(to: c, table: &t) }
        table = t.table
    }
}
