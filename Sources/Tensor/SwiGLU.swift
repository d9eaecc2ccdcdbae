import Foundation

/// Gated SiLU activation of the LLaMA MLP.  Legend: N rows, I intermediate features.
///
/// silu(z) = z·σ(z),  out = silu(gate) ⊙ up.   gate, up, out: (N, I).
public enum SwiGLU {
    public static func forward(out: Tensor, gate: Tensor, up: Tensor) {
        precondition(out.count == gate.count && up.count == gate.count)
        Parallel.forEach(gate.count, costPerItem: 8) { range in
            for i in range {
                let g = gate.data[i]
                out.data[i] = g / (1 + expf(-g)) * up.data[i]
            }
        }
    }

    /// Adds into dgate and dup.   σ' gives silu'(z) = σ(z)·(1 + z·(1 − σ(z)))
    ///   dgate += dout ⊙ up ⊙ silu'(gate)     dup += dout ⊙ silu(gate)
    public static func backward(dgate: Tensor, dup: Tensor, dout: Tensor, gate: Tensor, up: Tensor) {
        Parallel.forEach(gate.count, costPerItem: 8) { range in
            for i in range {
                let g = gate.data[i]
                let s = 1 / (1 + expf(-g))
                let d = dout.data[i]
                dgate.data[i] += d * up.data[i] * s * (1 + g * (1 - s))
                dup.data[i] += d * g * s
            }
        }
    }
}
