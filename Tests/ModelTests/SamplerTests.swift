import Infer
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
}
