import Tensor

/// Wings' state for one training batch or one KV cache: per chosen layer the learners' keys
/// and values (a batch's own rows, or every cached position) and the query side's buffers,
/// plus which positions hold image tokens and the masks derived from them.
///
/// Training keeps every layer's buffers for the backward pass; a cache keeps only each layer's
/// keys and values and shares one set of query-side buffers between layers.
///
/// Legend: B sequences, S key positions per sequence (T, or the cache capacity), n rows per
/// call (T, or the chunk), N = B·n, C hidden, KC = NKV·D, L = router_max_keys, r rank.
final class WingsState: AdapterState, @unchecked Sendable {
    /// One learner's buffers at one layer: its working buffers and where its keys and values live.
    struct Learner {
        let work: LoRRA.Buffers   // N rows; its k, v hold the new rows' keys and values
        let keys: Tensor          // (B·S, KC): work.k itself in training, the cache's store otherwise
        let values: Tensor        // (B·S, KC)
    }

    /// A chosen layer's buffers.
    struct Layer {
        let hPrime: Tensor        // (N, C) the residual stream after attention, before the learners
        let routerInput: Tensor   // (N, L) a
        let routerLogits: Tensor  // (N, 2) z
        let weights: Tensor       // (N, 2) w = (w_v, w_t)
        let visual: Learner
        let textual: Learner
    }

    /// The backward pass's buffers, shared by the layers (training only).
    struct Scratch {
        let doutVisual: Tensor    // (N, C) w_v ⊙ dh''
        let doutTextual: Tensor   // (N, C) w_t ⊙ dh''
        let dweights: Tensor      // (N, 2)
        let drouterInput: Tensor  // (N, L) da, handed to the main attention's backward
        let dr: Tensor            // (N, r)
        let dembeddings: Tensor   // (N, C) the learners' gradient into the layer-0 embeddings, summed over layers
    }

    let batch: Int
    let stride: Int
    let arena: Arena
    let layers: [Int: Layer]
    let scratch: Scratch?
    /// A KV cache's state (keys kept across calls) rather than a training batch's.
    let isCache: Bool
    let imagePositions: UnsafeMutablePointer<UInt8>  // (B, S) 1 = an image token
    let masks: WingsMasks
    /// Whether any row of the last forward sees an image (else the visual learner is skipped).
    var anyRouted = false

    init(adapter w: WingsAdapter, storage: AdapterStorage) {
        let c = w.decoder, wings = w.config, C = c.hiddenSize, KC = c.kvSize, L = wings.routerMaxKeys
        let (B, S, n, cache): (Int, Int, Int, Bool) = switch storage {
        case .training(let b, let t): (b, t, t, false)
        case .cache(let b, let capacity, let chunk): (b, capacity, chunk, true)
        }
        let N = B * n, chosen = w.config.chosenLayers(of: c.numHiddenLayers)
        func work(_ allocate: ([Int]) -> Tensor) -> LoRRA.Buffers {
            LoRRA.Buffers(rows: N, batch: B, queries: n, keys: S, heads: c.numAttentionHeads, hidden: C, kvSize: KC, rank: wings.rank, allocate)
        }
        func queryBuffers(_ allocate: ([Int]) -> Tensor) -> (Tensor, Tensor, Tensor, Tensor) {
            (allocate([N, C]), allocate([N, L]), allocate([N, 2]), allocate([N, 2]))
        }
        func learner(_ buffers: LoRRA.Buffers, _ allocate: ([Int]) -> Tensor) -> Learner {
            cache ? Learner(work: buffers, keys: allocate([B * S, KC]), values: allocate([B * S, KC]))
                  : Learner(work: buffers, keys: buffers.k, values: buffers.v)
        }
        typealias Layout = ([Int: Layer], Scratch?)
        let (arena, layout): (Arena, Layout) = Arena.build { allocate in
            // A cache shares the query side between layers; training keeps each layer's.
            let shared = cache ? (queryBuffers(allocate), work(allocate), work(allocate)) : nil
            var layers: [Int: Layer] = [:]
            for l in chosen {
                let (hPrime, routerInput, routerLogits, weights) = shared?.0 ?? queryBuffers(allocate)
                let visual = learner(shared?.1 ?? work(allocate), allocate), textual = learner(shared?.2 ?? work(allocate), allocate)
                layers[l] = Layer(hPrime: hPrime, routerInput: routerInput, routerLogits: routerLogits, weights: weights,
                                  visual: visual, textual: textual)
            }
            let scratch = cache ? nil : Scratch(doutVisual: allocate([N, C]), doutTextual: allocate([N, C]), dweights: allocate([N, 2]),
                                                drouterInput: allocate([N, L]), dr: allocate([N, wings.rank]), dembeddings: allocate([N, C]))
            return (layers, scratch)
        }
        self.arena = arena
        (layers, scratch) = layout
        batch = B
        stride = S
        isCache = cache
        imagePositions = .allocate(capacity: B * S)
        imagePositions.initialize(repeating: 0, count: B * S)
        masks = WingsMasks(keys: B * S, rows: N)
    }

    var bytes: Int { arena.bytes }

    deinit {
        imagePositions.deallocate()
        masks.deallocate()
    }

    func reset() { imagePositions.update(repeating: 0, count: batch * stride) }

    func broadcastPrefix(from source: any AdapterState, count: Int) {
        let source = source as! WingsState
        for (l, layer) in layers {
            let from = source.layers[l]!
            for (dst, src) in [(layer.visual.keys, from.visual.keys), (layer.visual.values, from.visual.values),
                               (layer.textual.keys, from.textual.keys), (layer.textual.values, from.textual.values)] {
                let KC = dst.lastDimension
                for b in 0..<batch { (dst.data + b * stride * KC).update(from: src.data, count: count * KC) }
            }
        }
        for b in 0..<batch { (imagePositions + b * stride).update(from: source.imagePositions, count: count) }
    }
}
