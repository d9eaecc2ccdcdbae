import Tensor

/// The number format of the weight matrices that cached inference (generate, infer, eval) reads.
public enum WeightPrecision: String, Codable, Sendable, CaseIterable {
    /// The parameters' own float32 values.
    case f32
    /// bfloat16 copies (8 bits of mantissa): half the bytes a decode step reads, so about twice
    /// the tokens/s where memory bandwidth bounds it; products accumulate in float32.
    case bf16
}

extension DecoderModel {
    /// The format cached inference reads the projection matrices in.
    public var inferencePrecision: WeightPrecision { inferenceMatrices.isEmpty ? .f32 : .bf16 }

    /// Makes cached inference read every projection matrix (q, k, v, o, gate, up, down, lm_head)
    /// in `precision`. bfloat16 copies are made of the values as they are now: they do not follow
    /// training (a training pass always reads the float32 values). Norms, biases, embeddings and
    /// attached adapters stay float32.
    public func useInferencePrecision(_ precision: WeightPrecision) {
        switch precision {
        case .f32:
            inferenceMatrices = [:]
        case .bf16:
            var slots = layout.layers.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.gate, $0.up, $0.down] }
            slots.append(layout.lmHead)
            for slot in slots where inferenceMatrices[slot.index] == nil {
                inferenceMatrices[slot.index] = BF16Matrix(parameters.value(slot))
            }
        }
    }

    /// Bytes of the weights one cached decode step reads: every projection matrix in its
    /// inference format, plus one embedding row (norms and biases are negligible and left out).
    public var decodeWeightBytes: Int {
        var slots = layout.layers.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.gate, $0.up, $0.down] }
        slots.append(layout.lmHead)
        return slots.reduce(4 * config.hiddenSize) { total, slot in
            total + (inferenceMatrices[slot.index]?.bytes ?? 4 * parameters.value(slot).count)
        }
    }
}
