import Foundation
import Infer
import Tensor
import Testing

struct SamplerTests {
    let logits: [Float] = [0.1, 2.0, -1.0, 1.9, 0.5]

    @Test func greedyIsArgmax() {
        var s = Sampler(SamplingOptions())
        #expect(logits.withUnsafeBufferPointer { s.sample($0.baseAddress!, vocabulary: 5) } == 1)
    }

    @Test func topKOneAndTinyTopPAreGreedy() {
        var k = Sampler(SamplingOptions(temperature: 1, topK: 1, seed: 3))
        var p = Sampler(SamplingOptions(temperature: 1, topP: 0.01, seed: 3))
        for _ in 0..<20 {
            #expect(logits.withUnsafeBufferPointer { k.sample($0.baseAddress!, vocabulary: 5) } == 1)
            #expect(logits.withUnsafeBufferPointer { p.sample($0.baseAddress!, vocabulary: 5) } == 1)
        }
    }

    @Test func seededSamplingRepeatsAndStaysInTopK() {
        func draw(_ seed: UInt64) -> [Int32] {
            var s = Sampler(SamplingOptions(temperature: 1.5, topK: 2, seed: seed))
            return (0..<200).map { _ in logits.withUnsafeBufferPointer { s.sample($0.baseAddress!, vocabulary: 5) } }
        }
        let a = draw(11)
        #expect(a == draw(11))
        #expect(Set(a) == [1, 3], "top-2 keeps ids 1 and 3, and both occur")
    }

    /// The partial selection ranks exactly as a full sort would: over a large vocabulary with ties,
    /// every combination of top-k and top-p draws the tokens a full sort's ranking gives.
    @Test func partialSelectionMatchesAFullSort() {
        var rng = SeededGenerator(seed: 5)
        let V = 5000
        // Logits with many exact ties (rounded), a few large ones, a long flat tail.
        let rows = (0..<6).map { _ in (0..<V).map { _ in (rng.normal() * 3).rounded() / 2 } }
        for (k, p) in [(0, 0.9), (0, 0.999), (40, 1), (300, 0.95), (1, 1), (0, 1), (V, 0.5)] as [(Int, Float)] {
            let options = SamplingOptions(temperature: 0.8, topK: k, topP: p, seed: 21)
            var fast = Sampler(options)
            var reference = ReferenceSampler(options: options)
            for row in rows {
                for _ in 0..<5 {
                    let a = row.withUnsafeBufferPointer { fast.sample($0.baseAddress!, vocabulary: V) }
                    let b = reference.sample(row)
                    #expect(a == b, "top-k \(k) top-p \(p)")
                }
            }
        }
    }
}

/// The sampler as it was before the partial selection: a full sort of the vocabulary.
private struct ReferenceSampler {
    let options: SamplingOptions
    var rng: SeededGenerator
    init(options: SamplingOptions) { self.options = options; rng = SeededGenerator(seed: options.seed) }

    mutating func sample(_ logits: [Float]) -> Int32 {
        let V = logits.count, invT = 1 / options.temperature
        let m = logits.map { $0 * invT }.max()!
        var p = logits.map { expf($0 * invT - m) }
        let sum = p.reduce(0, +)
        for j in 0..<V { p[j] = p[j] / sum }
        let order = (0..<Int32(V)).sorted { (a: Int32, b: Int32) -> Bool in
            let pa = p[Int(a)], pb = p[Int(b)]
            return pa > pb || (pa == pb && a < b)
        }
        var keep = options.topK > 0 ? min(options.topK, V) : V
        if options.topP < 1 {
            var cumulative: Float = 0
            for (rank, id) in order.prefix(keep).enumerated() {
                cumulative += p[Int(id)]
                if cumulative >= options.topP { keep = rank + 1; break }
            }
        }
        var mass: Float = 0
        for id in order.prefix(keep) { mass += p[Int(id)] }
        var r = rng.uniform() * mass
        for id in order.prefix(keep) {
            r -= p[Int(id)]
            if r <= 0 { return id }
        }
        return order[keep - 1]
    }
}
