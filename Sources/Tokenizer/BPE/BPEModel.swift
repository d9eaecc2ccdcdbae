import Foundation

/// A BPE vocabulary and its merges, applied to one pre-token at a time (GPT-2's algorithm):
/// start from the pre-token's characters, then repeatedly merge the adjacent pair of lowest
/// merge rank, every occurrence left to right, until no pair of the word is a merge.
final class BPEModel: @unchecked Sendable {
    let vocabulary: [String: Int32]
    let tokens: [Int32: String]
    /// (left, right) → (rank, merged id).
    private let merges: [Pair: (rank: Int, merged: Int32)]
    /// LLaMA-3: a pre-token that is itself in the vocabulary is one token, whatever the merges say.
    let ignoreMerges: Bool
    let unknown: Int32?
    private var cache: [String: [Int32]] = [:]
    private let lock = NSLock()

    struct Pair: Hashable {
        let left: Int32, right: Int32
    }

    /// `merges` as (left, right) entries in rank order; each side and their concatenation must be in the vocabulary.
    init(vocabulary: [String: Int32], merges: [(String, String)], ignoreMerges: Bool, unknown: String?, file: String) throws {
        self.vocabulary = vocabulary
        tokens = Dictionary(vocabulary.map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var table: [Pair: (rank: Int, merged: Int32)] = [:]
        for (rank, (a, b)) in merges.enumerated() {
            guard let l = vocabulary[a], let r = vocabulary[b], let m = vocabulary[a + b] else {
                throw TokenizerError("\(file): 'model.merges' entry \(rank) ('\(a) \(b)') joins tokens that are not in 'model.vocab'")
            }
            if table[Pair(left: l, right: r)] == nil { table[Pair(left: l, right: r)] = (rank, m) }
        }
        self.merges = table
        self.ignoreMerges = ignoreMerges
        if let unknown {
            guard let id = vocabulary[unknown] else { throw TokenizerError("\(file): 'model.unk_token' '\(unknown)' is not in 'model.vocab'") }
            self.unknown = id
        } else {
            self.unknown = nil
        }
    }

    /// The token ids of one pre-token, written in vocabulary characters (byte-level: one character per byte).
    func tokenize(_ word: String) -> [Int32] {
        lock.lock()
        if let hit = cache[word] { lock.unlock(); return hit }
        lock.unlock()
        let ids = merge(word)
        lock.lock()
        if cache.count > 100_000 { cache.removeAll(keepingCapacity: true) }
        cache[word] = ids
        lock.unlock()
        return ids
    }

    private func merge(_ word: String) -> [Int32] {
        if ignoreMerges, let whole = vocabulary[word] { return [whole] }
        // Characters not in the vocabulary become the unknown token, or are dropped without one.
        var symbols = word.unicodeScalars.compactMap { vocabulary[String($0)] ?? unknown }
        while symbols.count > 1 {
            var best: (rank: Int, pair: Pair, merged: Int32)?
            for i in 0..<(symbols.count - 1) {
                let pair = Pair(left: symbols[i], right: symbols[i + 1])
                if let m = merges[pair], m.rank < (best?.rank ?? .max) { best = (m.rank, pair, m.merged) }
            }
            guard let best else { break }
            var out: [Int32] = [], i = 0
            out.reserveCapacity(symbols.count)
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == best.pair.left && symbols[i + 1] == best.pair.right {
                    out.append(best.merged)
                    i += 2
                } else {
                    out.append(symbols[i])
                    i += 1
                }
            }
            symbols = out
        }
        return symbols
    }
}
