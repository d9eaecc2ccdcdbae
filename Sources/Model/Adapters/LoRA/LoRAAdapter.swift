import Tensor

/// LoRA's forward and backward at the decoder's projection hooks (`LoRAConfig`).
///
///     xa = x·Aᵀ  (N, r);   y += s·xa·Bᵀ                       s = α/r
///     dB += s·dyᵀ·xa;  dxa = s·dy·B;  dA += dxaᵀ·x;  dx += dxa·A
public final class LoRAAdapter: DecoderAdapter, @unchecked Sendable {
    /// One adapted projection's tensors: A (r, in), B (out, r).
    public struct Pair: Sendable { public let a: ParameterSlot; public let b: ParameterSlot }
    public let config: LoRAConfig
    /// [layer][projection] → its pair (layers without adapters: empty).
    public let slots: [[Projection: Pair]]

    init(config: LoRAConfig, decoder c: DecoderConfig, table: inout ParameterTableBuilder) {
        self.config = config
        let chosen = Set(config.chosenLayers(of: c.numHiddenLayers))
        slots = (0..<c.numHiddenLayers).map { l in
            guard chosen.contains(l) else { return [:] }
            var layer: [Projection: Pair] = [:]
            for p in config.targetModules {
                let (input, output) = p.shape(in: c), name = p.path(layer: l)
                layer[p] = Pair(a: table.add(name + ".lora_A.weight", [config.rank, input]),
                                b: table.add(name + ".lora_B.weight", [output, config.rank]))
            }
            return layer
        }
    }

    /// x·Aᵀ of every adapted projection of every layer (N, r), and a backward scratch (N, r).
    final class State: AdapterState {
        let arena: Arena
        let xa: [[Projection: Tensor]]
        let dxa: Tensor
        init(_ adapter: LoRAAdapter, rows N: Int) {
            (arena, (xa, dxa)) = Arena.build { allocate in
                (adapter.slots.map { $0.mapValues { _ in allocate([N, adapter.config.rank]) } }, allocate([N, adapter.config.rank]))
            }
        }
        var bytes: Int { arena.bytes }
        func reset() {}
        func broadcastPrefix(from source: any AdapterState, count: Int) {}
    }

    public func summary(_ parameters: Parameters) -> String {
        let count = slots.flatMap { $0.values }.reduce(0) { $0 + parameters.value($1.a).count + parameters.value($1.b).count }
        let layers = slots.enumerated().filter { !$0.element.isEmpty }.count
        return "lora: r \(config.rank), α \(config.alpha) (scale \(config.scale)) on \(config.targetModules.map(\.rawValue).joined(separator: ", ")) of \(layers) layers: \(count) parameters"
    }

    /// A ~ U(−1/√in, 1/√in) (PEFT's Kaiming-uniform with a = √5), B = 0: the adapter adds nothing yet.
    public func initialize(_ parameters: Parameters, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for layer in slots {
            for p in Projection.allCases {
                guard let pair = layer[p] else { continue }
                let a = parameters.value(pair.a), bound = 1 / Float(a.lastDimension).squareRoot()
                for i in 0..<a.count { a[i] = (2 * rng.uniform() - 1) * bound }
                parameters.value(pair.b).zero()
            }
        }
    }

    /// y += s·(x·Aᵀ)·Bᵀ row by row: nothing crosses rows, so LoRA decodes in continuous batches.
    public var rowIndependent: Bool { true }

    public func makeState(_ storage: AdapterStorage) -> any AdapterState {
        switch storage {
        case .training(let B, let T): State(self, rows: B * T)
        case .cache(let B, _, let chunk): State(self, rows: B * chunk)
        }
    }

    public func projection(_ projection: Projection, layer: Int, x: Tensor, y: Tensor, _ pass: AdapterPass) {
        guard let pair = slots[layer][projection] else { return }
        let state = pass.state as! State, N = x.rowCount, p = pass.parameters
        let xa = Tensor(state.xa[layer][projection]!.data, shape: [N, config.rank])
        Linear.forward(y: xa, x: x, w: p.value(pair.a))
        GEMM.multiply(Matrix(xa), Matrix(p.value(pair.b)), transposeB: true, into: Matrix(y.data, rows: N, columns: y.lastDimension),
                      alpha: config.scale, beta: 1)
    }

    public func projectionBackward(_ projection: Projection, layer: Int, dy: Tensor, x: Tensor, dx: Tensor, _ pass: AdapterBackwardPass) {
        guard let pair = slots[layer][projection] else { return }
        let state = pass.state as! State, N = x.rowCount, p = pass.parameters, s = config.scale
        let xa = Tensor(state.xa[layer][projection]!.data, shape: [N, config.rank]), dxa = Tensor(state.dxa.data, shape: [N, config.rank])
        // y += s·xa·Bᵀ:  dB += s·dyᵀ·xa;  dxa = s·dy·B
        if let gb = pass.gradient(pair.b) { GEMM.multiply(Matrix(dy), transposeA: true, Matrix(xa), into: Matrix(gb), alpha: s, beta: 1) }
        GEMM.multiply(Matrix(dy), Matrix(p.value(pair.b)), into: Matrix(dxa), alpha: s)
        // xa = x·Aᵀ:  dA += dxaᵀ·x;  dx += dxa·A
        Linear.backward(dx: dx, dw: pass.gradient(pair.a), db: nil, dy: dxa, x: x, w: p.value(pair.a))
    }
}
