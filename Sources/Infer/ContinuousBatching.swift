import Model
import Tensor

extension BatchGenerator {
    /// Whether ``generate(stream:seeds:slots:onFinish:onFailure:)`` can hand finished slots to
    /// new requests: a decoder whose adapters are row-independent (LoRA); Wings' learners' cache
    /// state assumes one shared position.
    public var refillsSlots: Bool { decoder.adapters.allSatisfy(\.rowIndependent) }

    /// Completes `requests` with at most `slots` sequences in flight. Each request's prompt is
    /// prefilled alone, then joins the batch, which decodes one token per sequence a step (a step
    /// reads every weight once, whatever its rows); a sequence that finishes hands its slot to the
    /// next request at once, so a long answer does not hold the others back. `onFinish` sees each
    /// result as its sequence ends; `onFailure` each request that cannot run (a prompt too long
    /// for the context, an unreadable image), with its index: the others go on. A sequence's
    /// tokens do not depend on its neighbours: `seeds` (one per request) seed its sampling, and
    /// every row of a step is computed alone.
    public func generate(stream requests: [InferRequest], seeds: [UInt64], slots: Int,
                         onFinish: (InferResult) throws -> Void, onFailure: (Int, Error) -> Void) throws {
        precondition(refillsSlots && slots >= 1 && seeds.count == requests.count)
        let context = decoder.config.maxPositionEmbeddings, V = decoder.config.vocabSize
        var prompts = [[Int32]?](repeating: nil, count: requests.count)
        for (i, r) in requests.enumerated() {
            do {
                let ids = try promptTokens([r])[0]
                guard ids.count < context else { throw ModelError("a prompt of \(ids.count) tokens leaves no room in a context of \(context)") }
                prompts[i] = ids
            } catch {
                onFailure(i, error)
            }
        }
        var queue = requests.indices.filter { prompts[$0] != nil }.makeIterator()
        guard let longest = prompts.compactMap({ $0?.count }).max() else { return }
        let capacity = min(context, longest + maxNewTokens), count = prompts.compactMap { $0 }.count
        let entry = try decoder.makeCache(batch: 1, capacity: longest, chunk: min(longest, KVCache.prefillChunk),
                                          remedy: "shorten the longest prompt")
        let batch = try decoder.makeCache(batch: min(slots, count), capacity: capacity, chunk: 1,
                                          remedy: "lower --batch-size or --max-new-tokens")

        var active = [Sequence?](repeating: nil, count: batch.batch)
        /// Takes `token` into sequence `b`; true when that ends it (a stop token, or its budget spent).
        func accept(_ token: Int32, _ b: Int) throws -> Bool {
            let stopped = stop.contains(token)
            if !stopped { active[b]!.output.append(token) }
            guard stopped || active[b]!.output.count >= active[b]!.budget else { return false }
            let s = active[b]!
            try onFinish(InferResult(id: requests[s.index].id, output: tokenizer.decode(s.output), tokens: s.output.count,
                                     finishReason: stopped ? .stop : .length))
            active[b] = nil
            return true
        }
        /// Starts the next request that runs in slot `b`, if any is left.
        func refill(_ b: Int) throws {
            while let i = queue.next() {
                let ids = prompts[i]!
                let logits: Tensor
                do {
                    entry.reset()
                    let images = try encodeImages([requests[i]], prompts: [ids], tokens: ids, rowsPerSequence: ids.count)
                    logits = withExtendedLifetime(images) { decoder.prefill(ids, rowsPerSequence: ids.count, cache: entry, visual: images?.visual).logits }
                } catch {
                    onFailure(i, error)
                    continue
                }
                batch.resetSequence(b)
                batch.adopt(sequence: b, from: entry)
                var sampler = Sampler(SamplingOptions(temperature: options.temperature, topK: options.topK, topP: options.topP, seed: seeds[i]))
                let first = sampler.sample(logits.data + (logits.rowCount - 1) * V, vocabulary: V)
                active[b] = Sequence(index: i, sampler: sampler, budget: min(maxNewTokens, capacity - ids.count), next: first)
                if try !accept(first, b) { return }
            }
        }

        for b in 0..<batch.batch { try refill(b) }
        let pad = tokenizer.paddingID
        while active.contains(where: { $0 != nil }) {
            for b in active.indices where active[b] == nil { batch.resetSequence(b) }  // an idle slot stays at position 0
            let logits = decoder.step(active.map { $0?.next ?? pad }, cache: batch)
            for b in active.indices where active[b] != nil {
                let token = active[b]!.sampler.sample(logits.data + b * V, vocabulary: V)
                active[b]!.next = token
                if try accept(token, b) { try refill(b) }
            }
        }
    }
}

/// One request in flight: its index, its own sampler, what it generated, how much it may.
private struct Sequence {
    let index: Int
    var sampler: Sampler
    var output: [Int32] = []
    let budget: Int
    var next: Int32

    init(index: Int, sampler: Sampler, budget: Int, next: Int32) {
        self.index = index
        self.sampler = sampler
        self.budget = budget
        self.next = next
    }
}
