import Tensor

/// Wings' part of a `KVCache`: each chosen layer's learner keys and values for every cached
/// position, which positions hold image tokens, and the working buffers of one chunk.
final class WingsCache: @unchecked Sendable {
    let arena: Arena
    let visualKeys: [Int: Tensor], visualValues: [Int: Tensor]     // per layer (B, capacity, KC)
    let textualKeys: [Int: Tensor], textualValues: [Int: Tensor]   // per layer (B, capacity, KC)
    let hPrime: Tensor        // (B·chunk, C)
    let routerInput: Tensor   // (B·chunk, L)
    let routerLogits: Tensor  // (B·chunk, 2)
    let weights: Tensor       // (B·chunk, 2)
    let work: LoRRA.Buffers   // one learner at a time: B·chunk rows, keys up to capacity
    let imagePositions: UnsafeMutablePointer<UInt8>  // (B, capacity) 1 = an image token
    let imageKeys: UnsafeMutablePointer<Int32>       // (B, capacity) real image positions
    let textKeys: UnsafeMutablePointer<Int32>        // (B, capacity) real text positions
    let routed: UnsafeMutablePointer<UInt8>          // (B·chunk) new rows that see an image
    /// Left-padding positions per sequence (the router reads keys from the first real one).
    var padding: [Int]

    init(config c: DecoderConfig, wings: WingsConfig, batch B: Int, capacity: Int, chunk: Int) {
        let layers = wings.chosenLayers(of: c.numHiddenLayers), N = B * chunk, C = c.hiddenSize
        typealias Layout = ([Tensor], Tensor, Tensor, Tensor, Tensor, LoRRA.Buffers)
        let (arena, l): (Arena, Layout) = Arena.build { allocate in
            (layers.flatMap { _ in (0..<4).map { _ in allocate([B, capacity, c.kvSize]) } },
             allocate([N, C]), allocate([N, wings.routerMaxKeys]), allocate([N, 2]), allocate([N, 2]),
             LoRRA.Buffers(rows: N, batch: B, queries: chunk, keys: capacity, heads: c.numAttentionHeads, hidden: C,
                           kvSize: c.kvSize, rank: wings.rank, allocate))
        }
        self.arena = arena
        let kv = l.0
        func table(_ k: Int) -> [Int: Tensor] { Dictionary(uniqueKeysWithValues: layers.enumerated().map { ($1, kv[4 * $0 + k]) }) }
        visualKeys = table(0); visualValues = table(1); textualKeys = table(2); textualValues = table(3)
        (hPrime, routerInput, routerLogits, weights, work) = (l.1, l.2, l.3, l.4, l.5)
        imagePositions = .allocate(capacity: B * capacity); imagePositions.initialize(repeating: 0, count: B * capacity)
        imageKeys = .allocate(capacity: B * capacity); imageKeys.initialize(repeating: 0, count: B * capacity)
        textKeys = .allocate(capacity: B * capacity); textKeys.initialize(repeating: 0, count: B * capacity)
        routed = .allocate(capacity: N); routed.initialize(repeating: 0, count: N)
        padding = Array(repeating: 0, count: B)
    }

    deinit {
        imagePositions.deallocate(); imageKeys.deallocate(); textKeys.deallocate(); routed.deallocate()
    }

    func reset(batch B: Int, capacity: Int) {
        imagePositions.update(repeating: 0, count: B * capacity)
        padding = Array(repeating: 0, count: B)
    }

    /// Copies positions 0..<count of sequence 0 of `source` into every sequence.
    func broadcastPrefix(from source: WingsCache, batch B: Int, capacity: Int, count: Int) {
        for (l, dst) in visualKeys {
            for (d, s) in [(dst, source.visualKeys[l]!), (visualValues[l]!, source.visualValues[l]!),
                           (textualKeys[l]!, source.textualKeys[l]!), (textualValues[l]!, source.textualValues[l]!)] {
                let KC = d.lastDimension
                for b in 0..<B { (d.data + b * capacity * KC).update(from: s.data, count: count * KC) }
            }
        }
        for b in 0..<B { (imagePositions + b * capacity).update(from: source.imagePositions, count: count) }
        padding = Array(repeating: source.padding[0], count: B)
    }
}

extension DecoderModel {
    /// Before the layers of a cached forward over n new rows per sequence (x: their layer-0
    /// embeddings, N = B·n rows): appends every layer's learner keys and values, and derives the
    /// key masks and which new rows are routed.
    func learnersAppend(_ wc: WingsCache, x: Tensor, cache: KVCache, newRows n: Int, visualRows: [Int]) {
        let B = cache.batch, start = cache.length, cap = cache.capacity, N = B * n
        for row in visualRows { wc.imagePositions[(row / n) * cap + start + row % n] = 1 }
        for b in 0..<B {
            var seen = false
            for j in 0..<(start + n) {
                let p = b * cap + j, real = cache.keyMask[p] != 0, image = wc.imagePositions[p] != 0
                wc.imageKeys[p] = real && image ? 1 : 0
                wc.textKeys[p] = real && !image ? 1 : 0
                seen = seen || (real && image)
                if j >= start { wc.routed[b * n + j - start] = seen ? 1 : 0 }
            }
        }
        let w = wc.work, rows = { (t: Tensor) in Tensor(t.data, shape: [N, t.lastDimension]) }
        let ak = rows(w.ak), k = rows(w.k), av = rows(w.av), v = rows(w.v), KC = config.kvSize
        for (l, s) in wingsSlots {
            for (learner, keys, values) in [(s.visual, wc.visualKeys[l]!, wc.visualValues[l]!), (s.textual, wc.textualKeys[l]!, wc.textualValues[l]!)] {
                LoRRA.keysValues(weights(learner), xkv: x, ak: ak, k: k, av: av, v: v, heads: config.numAttentionHeads)
                for b in 0..<B {
                    (keys.data + (b * cap + start) * KC).update(from: k.data + b * n * KC, count: n * KC)
                    (values.data + (b * cap + start) * KC).update(from: v.data + b * n * KC, count: n * KC)
                }
            }
        }
    }

    /// h (holding h' for N = B·n new rows) ← h'' with the learners attending over the cache;
    /// `att` holds the main attention's probabilities of `shape`.
    func learnersForward(_ l: Int, h: Tensor, att: Tensor, shape: AttentionShape, cache wc: WingsCache) {
        guard let s = wingsSlots[l] else { return }
        let N = h.rowCount, w = wc.work
        let rows = { (t: Tensor) in Tensor(t.data, shape: [N, t.lastDimension]) }
        let hPrime = rows(wc.hPrime), mix = rows(wc.weights)
        hPrime.copy(from: h)
        WingsRouter.forward(weights: mix, logits: rows(wc.routerLogits), input: rows(wc.routerInput), att: att, shape: shape,
                            keyOffset: wc.padding, routed: wc.routed, w: parameters.value(at: s.routerWeight),
                            b: parameters.value(at: s.routerBias))
        let anyRouted = (0..<N).contains { wc.routed[$0] != 0 }
        let learners = [(s.visual, wc.visualKeys[l]!, wc.visualValues[l]!, wc.imageKeys, WingsRouter.visual),
                        (s.textual, wc.textualKeys[l]!, wc.textualValues[l]!, wc.textKeys, WingsRouter.textual)]
        for (learner, keys, values, mask, column) in learners where column == WingsRouter.textual || anyRouted {
            let lw = weights(learner), y = rows(w.y), out = rows(w.out)
            LoRRA.queries(lw, xq: hPrime, aq: rows(w.aq), q: rows(w.q))
            Attention.forward(y: y, att: w.att, q: rows(w.q), k: keys, v: values, keyMask: mask, shape: shape)
            LoRRA.output(lw, y: y, ao: rows(w.ao), out: out)
            let C = h.lastDimension
            for n in 0..<N {
                let a = mix.data[2 * n + column], src = out.data + n * C, dst = h.data + n * C
                for c in 0..<C { dst[c] += a * src[c] }
            }
        }
    }
}
