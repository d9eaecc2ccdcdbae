import Tensor

/// Keys and values of every layer for B sequences of up to `capacity` positions, plus
/// the working buffers of a forward pass over up to `chunk` new tokens per sequence.
public final class KVCache: @unchecked Sendable {
    public let batch: Int
    public let capacity: Int
    public let chunk: Int
    /// Positions filled so far (the same for every sequence).
    public internal(set) var length = 0
    let arena: Arena
    let keys: [Tensor]      // per layer (B, capacity, KC)
    let values: [Tensor]    // per layer (B, capacity, KC)
    let work: LayerBuffers  // one layer's buffers for (B, chunk) rows, keys up to capacity
    let lnf: Tensor         // (B·chunk, C)
    let rstdf: Tensor       // (B·chunk)
    let logits: Tensor      // (B·chunk, V)
    let tokens: UnsafeMutablePointer<Int32>  // (B·chunk)
    /// (B, capacity): 0 marks a position holding left padding, which no query may attend to.
    public let keyMask: UnsafeMutablePointer<Int32>
    /// Wings' learner keys and values, when the decoder has learners.
    let wings: WingsCache?

    public init(config c: DecoderConfig, batch B: Int, capacity: Int, chunk: Int? = nil) {
        precondition(capacity <= c.maxPositionEmbeddings, "cache of \(capacity) beyond max_position_embeddings \(c.maxPositionEmbeddings)")
        batch = B
        self.capacity = capacity
        let chunk = Swift.min(chunk ?? capacity, capacity)
        self.chunk = chunk
        let KC = c.kvSize
        typealias Layout = ([Tensor], [Tensor], LayerBuffers, Tensor, Tensor, Tensor)
        let (arena, l): (Arena, Layout) = Arena.build { allocate in
            ((0..<c.numHiddenLayers).map { _ in allocate([B, capacity, KC]) },
             (0..<c.numHiddenLayers).map { _ in allocate([B, capacity, KC]) },
             LayerBuffers(rows: B * chunk, batch: B, queries: chunk, keys: capacity, config: c, allocate),
             allocate([B * chunk, c.hiddenSize]), allocate([B * chunk]), allocate([B * chunk, c.vocabSize]))
        }
        self.arena = arena
        (keys, values, work, lnf, rstdf, logits) = l
        tokens = .allocate(capacity: B * chunk)
        tokens.initialize(repeating: 0, count: B * chunk)
        keyMask = .allocate(capacity: B * capacity)
        keyMask.initialize(repeating: 1, count: B * capacity)
        wings = c.wings.map { WingsCache(config: c, wings: $0, batch: B, capacity: capacity, chunk: chunk) }
    }

    deinit {
        tokens.deallocate()
        keyMask.deallocate()
    }

    /// Forgets every position (the buffers are reused) and every padding mark.
    public func reset() {
        length = 0
        keyMask.update(repeating: 1, count: batch * capacity)
        wings?.reset(batch: batch, capacity: capacity)
    }

    /// Marks the first `count` positions of sequence `b` as left padding: invisible to every query.
    /// RoPE only sees relative positions, so a left-padded sequence scores exactly as an unpadded one.
    public func maskPadding(sequence b: Int, count: Int) {
        (keyMask + b * capacity).update(repeating: 0, count: count)
        wings?.padding[b] = count
    }

    /// Rewinds to `position` positions: later ones will be recomputed (shared-prefix scoring
    /// evaluates several continuations after one prefix this way).
    public func rewind(to position: Int) {
        precondition(position >= 0 && position <= length)
        length = position
    }

    /// Copies the first `count` positions of sequence 0 of `source` into every sequence here
    /// and sets the length to `count`: one prefix, computed once, shared by a batch of continuations.
    public func broadcastPrefix(from source: KVCache, count: Int) {
        precondition(count <= source.length && count <= capacity && keys.count == source.keys.count)
        let KC = keys.first.map { $0.lastDimension } ?? 0
        for l in 0..<keys.count {
            for b in 0..<batch {
                (keys[l].data + b * capacity * KC).update(from: source.keys[l].data, count: count * KC)
                (values[l].data + b * capacity * KC).update(from: source.values[l].data, count: count * KC)
            }
        }
        if let wings, let source = source.wings {
            wings.broadcastPrefix(from: source, batch: batch, capacity: capacity, count: count)
        }
        length = count
    }
}

extension DecoderModel {
    /// Runs `newTokens` (B rows of n ≤ chunk tokens each, row-major) at positions
    /// `cache.length ..< cache.length + n`, appending their keys and values to the cache.
    /// `visual` replaces the embeddings of some of these rows (image tokens).
    /// Returns the logits, (B·n, V) rows, valid until the next call.
    public func forward(newTokens: [Int32], cache: KVCache, visual: [(row: Int, vector: UnsafePointer<Float>)] = []) -> Tensor {
        let B = cache.batch, n = newTokens.count / B, start = cache.length, c = config
        precondition(newTokens.count == B * n && n >= 1 && n <= cache.chunk, "\(newTokens.count) tokens for a batch of \(B), chunk \(cache.chunk)")
        precondition(start + n <= cache.capacity, "KV cache full: \(start) + \(n) > \(cache.capacity)")
        let N = B * n, C = c.hiddenSize, KC = c.kvSize
        newTokens.withUnsafeBufferPointer { cache.tokens.update(from: $0.baseAddress!, count: N) }

        // Views of the work buffers for N = B·n rows (the cache may be larger than this call).
        let a = cache.work
        let rows = { (t: Tensor, width: Int) in Tensor(t.data, shape: [N, width]) }
        let QC = c.numAttentionHeads * c.headSize, I = c.intermediateSize
        let w = LayerBuffers(view: a, ln1: rows(a.ln1, C), rstd1: Tensor(a.rstd1.data, shape: [N]), q: rows(a.q, QC),
                             k: rows(a.k, KC), v: rows(a.v, KC), attY: rows(a.attY, QC), h: rows(a.h, C), ln2: rows(a.ln2, C),
                             rstd2: Tensor(a.rstd2.data, shape: [N]), gate: rows(a.gate, I), up: rows(a.up, I),
                             act: rows(a.act, I), out: rows(a.out, C))
        let x = w.out  // the residual stream lives in `out`; a block reads it before overwriting it
        Embedding.forward(out: x, ids: cache.tokens, table: parameters.value(at: embedSlot))
        for (row, vector) in visual { (x.data + row * C).update(from: vector, count: C) }  // image tokens: their visual embeddings
        if let wc = cache.wings { learnersAppend(wc, x: x, cache: cache, newRows: n, visualRows: visual.map(\.row)) }
        let shape = AttentionShape(batch: B, queries: n, keys: start + n, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads,
                                   headSize: c.headSize, causal: true, queryOffset: start, keyRowsPerSequence: cache.capacity,
                                   maskStride: cache.capacity)
        for l in 0..<c.numHiddenLayers {
            let kc = cache.keys[l], vc = cache.values[l]
            block(l, x: x, a: w, sequence: n, startPosition: start, attend: {
                for b in 0..<B {
                    (kc.data + (b * cache.capacity + start) * KC).update(from: w.k.data + b * n * KC, count: n * KC)
                    (vc.data + (b * cache.capacity + start) * KC).update(from: w.v.data + b * n * KC, count: n * KC)
                }
                Attention.forward(y: w.attY, att: w.att, q: w.q, k: kc, v: vc, keyMask: cache.keyMask, shape: shape)
            }, learners: { if let wc = cache.wings { self.learnersForward(l, h: w.h, att: w.att, shape: shape, cache: wc) } })
        }
        cache.length = start + n
        let logits = Tensor(cache.logits.data, shape: [N, c.vocabSize])
        head(x: x, lnf: Tensor(cache.lnf.data, shape: [N, C]), rstd: Tensor(cache.rstdf.data, shape: [N]), logits: logits)
        return logits
    }
}

extension LayerBuffers {
    /// The same buffers seen with fewer rows (the attention buffer is kept whole).
    init(view a: LayerBuffers, ln1: Tensor, rstd1: Tensor, q: Tensor, k: Tensor, v: Tensor, attY: Tensor, h: Tensor,
         ln2: Tensor, rstd2: Tensor, gate: Tensor, up: Tensor, act: Tensor, out: Tensor) {
        self.ln1 = ln1; self.rstd1 = rstd1; self.q = q; self.k = k; self.v = v; self.att = a.att; self.attY = attY
        self.h = h; self.ln2 = ln2; self.rstd2 = rstd2; self.gate = gate; self.up = up; self.act = act; self.out = out
    }
}
