import Tensor
import TestSupport
import Testing
@testable import Train

/// The feature shift of rehearsal feature augmentation and its seeded draws.
struct FeatureAugmentationTests {
    /// ẑ_b − z_b = β̂_b ‖z_b‖ g_b / ‖g_b‖ over the sample's real tokens: its norm is β̂_b ‖z_b‖ and
    /// it points along g_b; rows with β̂ = 0, padding and a zero gradient stay as they were.
    @Test func shiftFollowsTheNormalisedGradient() {
        let s = TestTensors(seed: 2)
        let B = 3, T = 4, C = 5
        let z = s.make([B * T, C]), g = s.make([B * T, C]), original = s.zeros([B * T, C])
        original.copy(from: z)
        for i in (2 * T * C)..<(3 * T * C) { g[i] = 0 }          // sample 2: zero gradient
        var mask = [Int32](repeating: 1, count: B * T)
        mask[T - 1] = 0                                             // sample 0: last token is padding
        let betas: [Float] = [0.3, 0, 0.5]
        FeatureAugmentation.shift(z, gradient: g, betas: betas, attentionMask: mask, sequence: T)
        func norm(_ t: Tensor, _ rows: Range<Int>) -> Double {
            rows.reduce(0.0) { sum, r in sum + (0..<C).reduce(0.0) { $0 + Double(t[r * C + $1] * t[r * C + $1]) } }.squareRoot()
        }
        let delta = s.zeros([B * T, C])
        for i in 0..<delta.count { delta[i] = z[i] - original[i] }
        let real = 0..<(T - 1)
        #expect(abs(norm(delta, real) - 0.3 * norm(original, real)) < 1e-5)
        let k = Float(0.3 * norm(original, real) / norm(g, real))
        for r in real { for c in 0..<C { #expect(abs(delta[r * C + c] - k * g[r * C + c]) < 1e-5) } }
        #expect((0..<C).allSatisfy { delta[(T - 1) * C + $0] == 0 }, "padding is not shifted")
        #expect(norm(delta, T..<(3 * T)) == 0, "β̂ = 0 and a zero gradient leave the sample alone")
    }

    /// Only replayed rows get a β̂, in [0, β); the same index draws the same layer and β̂s.
    @Test func drawsAreSeededAndOnlyForReplayedRows() {
        let a = FeatureAugmentation(beta: 0.2, replaySource: 2, seed: 7)
        let sources: [Int32] = [0, 2, 1, 2, 2, 0]
        let first = a.draw(4, layers: 5, rowSources: sources), again = a.draw(4, layers: 5, rowSources: sources)
        #expect(first.layer == again.layer && first.betas == again.betas)
        #expect((0..<5).contains(first.layer))
        for (b, source) in sources.enumerated() {
            #expect(source == 2 ? (first.betas[b] > 0 && first.betas[b] < 0.2) : first.betas[b] == 0)
        }
        let layers = Set((0..<64).map { a.draw($0, layers: 5, rowSources: sources).layer })
        #expect(layers == Set(0..<5), "every layer gets drawn")
    }
}
