import Tensor

/// Keys and values of every layer for B sequences of up to `capacity` positions, plus
/// the working buffers of a forward pass over up to `chunk` new tokens per sequence and each
/// attached adapter's cache state.
public final class KVCache: @unchecked Sendable {
    public let batch: Int
    public let capacity: Int
    public let chunk: Int
    /// Positions filled per sequence: the same while the batch runs together (``length``), each
    /// its own once sequences are refilled one by one (``resetSequence(_:)``, ``DecoderModel/step(_:cache:visual:)``).
    public private(set) var lengths: [Int]
    /// Positions filled, the same for every sequence.
    public internal(set) var length: Int {
        get {
            precondition(lengths.allSatisfy { $0 == lengths[0] }, "sequences at different positions: use lengths")
            return lengths[0]
        }
        set { for b in 0..<batch { lengths[b] = newValue } }
    }
    let arena: Arena
    let keys: [Tensor]        // per layer (B, capacity, KC)
    let values: [Tensor]      // per layer (B, capacity, KC)
    let work: LayerBuffers    // one layer's buffers for (B, chunk) rows, keys up to capacity
    let embeddings: Tensor    // (B·chunk, C) the new rows' input embeddings, visual tokens spliced in
    let lnf: Tensor           // (B·chunk, C)
    let rstdf: Tensor         // (B·chunk)
    let logits: Tensor        // (B·chunk, V)
    let tokens: UnsafeMutablePointer<Int32>     // (B·chunk)
    let imageRows: UnsafeMutablePointer<UInt8>  // (B·chunk) 1 = a visual token's row
    /// (B, capacity): 0 marks a position holding left padding, which no query may attend to.
    public let keyMask: UnsafeMutablePointer<Int32>
    /// Left-padding positions per sequence.
    private(set) var padding: [Int]
    /// Each attached adapter's cache state (`DecoderModel.adapters` order).
    let adapterStates: [any AdapterState]
    /// Every attached adapter is row-independent (`DecoderAdapter.rowIndependent`): sequences
    /// may be refilled one at a time.
    let refillable: Bool

    /// `adapters`: those of the decoder that will run on it (default: those `c` records).
    public init(config c: DecoderConfig, batch B: Int, capacity: Int, chunk: Int? = nil, adapters: [any DecoderAdapter]? = nil) {
        precondition(capacity <= c.maxPositionEmbeddings, "cache of \(capacity) beyond max_position_embeddings \(c.maxPositionEmbeddings)")
        batch = B
        self.capacity = capacity
        let chunk = Swift.min(chunk ?? capacity, capacity)
        self.chunk = chunk
        let N = B * chunk
        let (arena, l) = Arena.build { Self.layout(c, batch: B, capacity: capacity, chunk: chunk, $0) }
        self.arena = arena
        (keys, values, work, embeddings, lnf, rstdf, logits) = l
        tokens = .allocate(capacity: N)
        tokens.initialize(repeating: 0, count: N)
        imageRows = .allocate(capacity: N)
        imageRows.initialize(repeating: 0, count: N)
        keyMask = .allocate(capacity: B * capacity)
        keyMask.initialize(repeating: 1, count: B * capacity)
        padding = Array(repeating: 0, count: B)
        lengths = Array(repeating: 0, count: B)
        let adapters = adapters ?? DecoderLayout(c).adapters
        adapterStates = adapters.map { $0.makeState(.cache(batch: B, capacity: capacity, chunk: chunk)) }
        refillable = adapters.allSatisfy(\.rowIndependent)
    }

    private typealias Layout = ([Tensor], [Tensor], LayerBuffers, Tensor, Tensor, Tensor, Tensor)

    /// The arena's tensors: keys and values per layer, one layer's working buffers, embeddings, lnf, rstdf, logits.
    private static func layout(_ c: DecoderConfig, batch B: Int, capacity: Int, chunk: Int, _ allocate: ([Int]) -> Tensor) -> Layout {
        let KC = c.kvSize, N = B * chunk
        return ((0..<c.numHiddenLayers).map { _ in allocate([B, capacity, KC]) },
                (0..<c.numHiddenLayers).map { _ in allocate([B, capacity, KC]) },
                LayerBuffers(rows: N, batch: B, queries: chunk, keys: capacity, config: c, allocate),
                allocate([N, c.hiddenSize]), allocate([N, c.hiddenSize]), allocate([N]), allocate([N, c.vocabSize]))
    }

    /// The bytes of a cache for B sequences of `capacity` positions run `chunk` tokens at a time
    /// (the adapters' state not included), or nil when they exceed `Int.max`.
    public static func bytes(config c: DecoderConfig, batch B: Int, capacity: Int, chunk: Int? = nil) -> Int? {
        let chunk = Swift.min(chunk ?? capacity, capacity)
        guard !B.multipliedReportingOverflow(by: Swift.max(capacity, chunk)).overflow else { return nil }
        return Arena.measure { layout(c, batch: B, capacity: capacity, chunk: chunk, $0) }
    }

    deinit {
        tokens.deallocate()
        imageRows.deallocate()
        keyMask.deallocate()
    }

    /// Forgets every position (the buffers are reused) and every padding mark.
    public func reset() {
        length = 0
        keyMask.update(repeating: 1, count: batch * capacity)
        padding = Array(repeating: 0, count: batch)
        for s in adapterStates { s.reset() }
    }

    /// Puts sequence 0 of `source` (its positions, keys, values and padding) into sequence `b`,
    /// which keeps nothing of what it held: a prompt prefilled alone joins a batch that decodes
    /// one step at a time (continuous batching). Needs caches whose adapters are row-independent.
    public func adopt(sequence b: Int, from source: KVCache) {
        precondition(refillable && source.refillable, "caches with stateful adapters refill all sequences together")
        let n = source.lengths[0], KC = keys.first.map { $0.lastDimension } ?? 0
        precondition(n <= capacity && keys.count == source.keys.count, "a prompt of \(n) positions into a cache of \(capacity)")
        for l in 0..<keys.count {
            (keys[l].data + b * capacity * KC).update(from: source.keys[l].data, count: n * KC)
            (values[l].data + b * capacity * KC).update(from: source.values[l].data, count: n * KC)
        }
        (keyMask + b * capacity).update(from: source.keyMask, count: n)
        (keyMask + b * capacity + n).update(repeating: 1, count: capacity - n)
        padding[b] = source.padding[0]
        lengths[b] = n
    }

    /// Every sequence one position further (after a ``DecoderModel/step(_:cache:visual:)``).
    func advance() { for b in 0..<batch { lengths[b] += 1 } }

    /// Empties sequence `b` alone for a new one (continuous batching: a finished sequence hands its
    /// slot on); the others keep their positions. Needs a cache whose adapters are row-independent
    /// (a stateful adapter's state assumes one shared position).
    public func resetSequence(_ b: Int) {
        precondition(refillable, "a cache with stateful adapters refills all sequences together")
        lengths[b] = 0
        (keyMask + b * capacity).update(repeating: 1, count: capacity)
        padding[b] = 0
    }

    /// Marks the first `count` positions of sequence `b` as left padding: invisible to every query.
    /// RoPE only sees relative positions, so a left-padded sequence scores exactly as an unpadded one.
    public func maskPadding(sequence b: Int, count: Int) {
        (keyMask + b * capacity).update(repeating: 0, count: count)
        padding[b] = count
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
        for b in 0..<batch { (keyMask + b * capacity).update(from: source.keyMask, count: count) }
        padding = Array(repeating: source.padding[0], count: batch)
        for (state, from) in zip(adapterStates, source.adapterStates) { state.broadcastPrefix(from: from, count: count) }
        length = count
    }
}

extension KVCache {
    /// Prompt tokens a forward pass takes at a time by default (``DecoderModel/prefill(_:rowsPerSequence:cache:visual:)``):
    /// the attention buffer then holds chunk × capacity scores per head, not prompt × capacity,
    /// and products of this many rows already run near the sgemm peak.
    public static let prefillChunk = 256
}

extension DecoderModel {
    /// Runs one new token per sequence, each at its own position (`cache.lengths[b]`), appending
    /// its key and value there: a decode step of sequences that entered the batch at different
    /// times (a refilled sequence's prompt is fed this way, one token a step, beside the others'
    /// decoding: a step reads every weight once, whatever its rows). `visual` places visual
    /// tokens on rows b. Needs a decoder whose adapters are row-independent (LoRA). Returns the
    /// logits, (B, V) rows, valid until the next call.
    public func step(_ tokens: [Int32], cache: KVCache, visual: VisualTokens? = nil) -> Tensor {
        let B = cache.batch, c = config, KC = c.kvSize, positions = cache.lengths
        precondition(tokens.count == B && cache.refillable && cache.adapterStates.count == adapters.count, "one token per sequence, row-independent adapters")
        precondition(positions.allSatisfy { $0 < cache.capacity }, "KV cache full: \(positions.max()!) of \(cache.capacity)")
        tokens.withUnsafeBufferPointer { cache.tokens.update(from: $0.baseAddress!, count: B) }
        let w = cache.work.rows(B), x0 = cache.embeddings.rows(0..<B)
        Embedding.forward(out: x0, ids: cache.tokens, table: parameters.value(layout.embed))
        cache.imageRows.update(repeating: 0, count: B)
        if let visual {
            ImageSplice.forward(embeddings: x0, visual: visual.tokens, rows: visual.placement)
            for (_, row) in visual.placement { cache.imageRows[row] = 1 }
        }
        let shape = AttentionShape(batch: B, queries: 1, keys: cache.capacity, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads,
                                   headSize: c.headSize, causal: false, keyRowsPerSequence: cache.capacity, maskStride: cache.capacity)
        let keyCounts = positions.map { $0 + 1 }
        // Row-independent adapters read only their rows' inputs: no shared position to give them.
        let attached = zip(adapters, cache.adapterStates).map { adapter, state in
            AttachedPass(adapter: adapter, pass: AdapterPass(
                parameters: parameters, state: state, batch: B, rows: 1, start: 0, keyStride: cache.capacity, keyMask: cache.keyMask,
                keyOffset: cache.padding, imageRows: cache.imageRows, inputEmbeddings: x0), backward: nil)
        }
        for a in attached { a.adapter.beginForward(a.pass, fromLayer: 0) }
        var x = x0
        for l in 0..<c.numHiddenLayers {
            let kc = cache.keys[l], vc = cache.values[l]
            block(l, x: x, a: w, positions: .listed(positions), adapters: attached, cached: true) {
                for b in 0..<B {
                    (kc.data + (b * cache.capacity + positions[b]) * KC).update(from: w.k.data + b * KC, count: KC)
                    (vc.data + (b * cache.capacity + positions[b]) * KC).update(from: w.v.data + b * KC, count: KC)
                }
                Attention.forwardFewQueries(y: w.attY, att: w.att, q: w.q, k: kc, v: vc, keyMask: cache.keyMask, shape: shape, keyCounts: keyCounts)
                return AttentionProbabilities(probabilities: w.att, shape: shape)
            }
            x = w.out
        }
        cache.advance()
        let logits = cache.logits.rows(0..<B)
        head(x: x, lnf: cache.lnf.rows(0..<B), rstd: cache.rstdf.rows(0..<B), logits: logits, cached: true)
        return logits
    }

    /// Runs a prompt of B sequences of T tokens each (row-major; left padding marked with
    /// ``KVCache/maskPadding(sequence:count:)``) into `cache`, `cache.chunk` columns at a time.
    /// `visual` places visual tokens on rows b·T + t. Returns the last chunk's logits, (B·n, V)
    /// with n its width (row b·n + n − 1 predicts sequence b's next token), valid until the next call.
    public func prefill(_ tokens: [Int32], rowsPerSequence T: Int, cache: KVCache, visual: VisualTokens? = nil)
        -> (logits: Tensor, rowsPerSequence: Int) {
        let B = cache.batch
        precondition(tokens.count == B * T && T >= 1, "\(tokens.count) prompt tokens for \(B) sequences of \(T)")
        var last: (Tensor, Int)?
        for start in stride(from: 0, to: T, by: cache.chunk) {
            let columns = start..<Swift.min(T, start + cache.chunk), n = columns.count
            var chunk = [Int32](repeating: 0, count: B * n)
            for b in 0..<B { for t in columns { chunk[b * n + t - start] = tokens[b * T + t] } }
            last = (forward(newTokens: chunk, cache: cache, visual: visual?.columns(columns, rowsPerSequence: T)), n)
        }
        return last!
    }

    /// Runs `newTokens` (B rows of n ≤ chunk tokens each, row-major) at positions
    /// `cache.length ..< cache.length + n`, appending their keys and values to the cache.
    /// `visual` replaces the embeddings of some of these B·n rows (image tokens).
    /// Returns the logits, (B·n, V) rows, valid until the next call.
    public func forward(newTokens: [Int32], cache: KVCache, visual: VisualTokens? = nil) -> Tensor {
        let B = cache.batch, n = newTokens.count / B, start = cache.length, c = config
        precondition(newTokens.count == B * n && n >= 1 && n <= cache.chunk, "\(newTokens.count) tokens for a batch of \(B), chunk \(cache.chunk)")
        precondition(start + n <= cache.capacity, "KV cache full: \(start) + \(n) > \(cache.capacity)")
        let N = B * n, KC = c.kvSize
        newTokens.withUnsafeBufferPointer { cache.tokens.update(from: $0.baseAddress!, count: N) }
        let w = cache.work.rows(N)  // the cache may be larger than this call
        let x0 = cache.embeddings.rows(0..<N)
        Embedding.forward(out: x0, ids: cache.tokens, table: parameters.value(layout.embed))
        cache.imageRows.update(repeating: 0, count: N)
        if let visual {  // image tokens: their visual embeddings
            ImageSplice.forward(embeddings: x0, visual: visual.tokens, rows: visual.placement)
            for (_, row) in visual.placement { cache.imageRows[row] = 1 }
        }
        precondition(cache.adapterStates.count == adapters.count, "a KV cache made for other adapters: use makeCache(batch:capacity:chunk:)")
        let attached = zip(adapters, cache.adapterStates).map { adapter, state in
            AttachedPass(adapter: adapter, pass: AdapterPass(
                parameters: parameters, state: state, batch: B, rows: n, start: start, keyStride: cache.capacity, keyMask: cache.keyMask,
                keyOffset: cache.padding, imageRows: cache.imageRows, inputEmbeddings: x0), backward: nil)
        }
        for a in attached { a.adapter.beginForward(a.pass, fromLayer: 0) }
        let shape = AttentionShape(batch: B, queries: n, keys: start + n, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads,
                                   headSize: c.headSize, causal: true, queryOffset: start, keyRowsPerSequence: cache.capacity,
                                   maskStride: cache.capacity)
        var x = x0  // then the residual stream lives in `out`: a block reads it before overwriting it
        for l in 0..<c.numHiddenLayers {
            let kc = cache.keys[l], vc = cache.values[l]
            block(l, x: x, a: w, positions: .consecutive(rowsPerSequence: n, start: start), adapters: attached, cached: true) {
                for b in 0..<B {
                    (kc.data + (b * cache.capacity + start) * KC).update(from: w.k.data + b * n * KC, count: n * KC)
                    (vc.data + (b * cache.capacity + start) * KC).update(from: w.v.data + b * n * KC, count: n * KC)
                }
                Attention.forward(y: w.attY, att: w.att, q: w.q, k: kc, v: vc, keyMask: cache.keyMask, shape: shape)
                return AttentionProbabilities(probabilities: w.att, shape: shape)
            }
            x = w.out
        }
        cache.length = start + n
        let logits = cache.logits.rows(0..<N)
        head(x: x, lnf: cache.lnf.rows(0..<N), rstd: cache.rstdf.rows(0..<N), logits: logits, cached: true)
        return logits
    }
}
