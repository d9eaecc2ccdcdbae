import CKernels
import Foundation
import Testing
import TestSupport
@testable import Tensor

/// The decode kernels (CKernels: products over few rows, single-query attention) against a double-precision reference, in every variant this CPU
/// runs (portable always; AVX2 and AVX-512 where the CPU has them), at shapes that exercise each
/// register block and every tail: rows of X from 1 to 9, weight rows not a multiple of 4, K not a
/// multiple of 8 or 16, strided X and Y.
@Suite struct DecodeKernelTests {
    static let variants: [mk_isa] = [MK_ISA_PORTABLE, MK_ISA_AVX2, MK_ISA_AVX512]

    /// Y (M, N) = X (M, K) · W (N, K)ᵀ in Double, with X's rows `ldx` apart.
    func reference(_ x: [Float], _ w: [Float], M: Int, N: Int, K: Int, ldx: Int) -> [Double] {
        (0..<(M * N)).map { i in
            let m = i / N, n = i % N
            return (0..<K).reduce(0.0) { $0 + Double(x[m * ldx + $1]) * Double(w[n * K + $1]) }
        }
    }

    @Test(arguments: variants) func variantMatchesTheReference(_ isa: mk_isa) {
        let name = String(cString: mk_isa_name(isa))
        guard mk_isa_supported(isa) != 0 else {
            print("DecodeKernelTests: this CPU has no \(name): its variant is not run here (it runs where the CPU has it)")
            #expect(mk_linear_f32_isa(isa, 1, 1, nil, 1, nil, 0, 0, nil, 1) == 0, "an unsupported variant must refuse to run")
            return
        }
        var rng = SeededGenerator(seed: 17)
        for (M, N, K) in [(1, 1, 1), (1, 4, 8), (1, 13, 17), (2, 5, 16), (3, 8, 33), (4, 9, 64), (5, 12, 100), (8, 7, 7), (9, 6, 129)] {
            let ldx = K + 3, ldy = N + 2
            let x = (0..<(M * ldx)).map { _ in rng.normal() }, w = (0..<(N * K)).map { _ in rng.normal() }
            let expected = reference(x, w, M: M, N: N, K: K, ldx: ldx)
            var y = [Float](repeating: .nan, count: M * ldy)
            // Two calls over halves of the weight rows, as the cores split them.
            for (n0, n1) in [(0, N / 2), (N / 2, N)] {
                #expect(mk_linear_f32_isa(isa, Int32(M), Int32(K), x, ldx, w, Int32(n0), Int32(n1), &y, ldy) == 1)
            }
            for m in 0..<M { for n in 0..<N {
                let e = expected[m * N + n]
                #expect(abs(Double(y[m * ldy + n]) - e) <= 1e-5 * (1 + abs(e)), "\(name) f32 \(M)x\(N)x\(K) at (\(m), \(n))")
            } }
            // bfloat16 weights: exactly the float32 product of the rounded weights.
            var half = [UInt16](repeating: 0, count: N * K)
            mk_f32_to_bf16(w, &half, N * K)
            var widened = [Float](repeating: 0, count: N * K)
            mk_bf16_to_f32(half, &widened, N * K)
            let rounded = reference(x, widened, M: M, N: N, K: K, ldx: ldx)
            #expect(mk_linear_bf16_isa(isa, Int32(M), Int32(K), x, ldx, half, 0, Int32(N), &y, ldy) == 1)
            for m in 0..<M { for n in 0..<N {
                let e = rounded[m * N + n]
                #expect(abs(Double(y[m * ldy + n]) - e) <= 1e-5 * (1 + abs(e)), "\(name) bf16 \(M)x\(N)x\(K) at (\(m), \(n))")
            } }
        }
    }

    /// Single-query attention in every variant this CPU runs, against Double: head sizes that are
    /// and are not multiples of 8, key counts around the 4- and 8-key blocks, masked keys, and a
    /// query with every key masked (p = 0, y = 0).
    @Test(arguments: variants) func singleQueryAttentionMatchesTheReference(_ isa: mk_isa) {
        guard mk_isa_supported(isa) != 0 else {
            #expect(mk_attend_one_isa(isa, 1, 1, nil, nil, nil, 1, nil, 1, nil, nil) == 0)
            return
        }
        var rng = SeededGenerator(seed: 23)
        for D in [4, 8, 12, 16, 64, 128] { for S in [1, 3, 4, 5, 8, 9, 17, 40] { for masked in [false, true] {
            let stride = 3 * D + 5, scale = 1 / Float(D).squareRoot()
            let q = (0..<D).map { _ in rng.normal() }, k = (0..<(S * stride)).map { _ in rng.normal() }, v = (0..<(S * stride)).map { _ in rng.normal() }
            let mask: [Int32] = (0..<S).map { masked && $0 % 3 == 1 ? 0 : 1 }
            var p = [Float](repeating: .nan, count: S), y = [Float](repeating: .nan, count: D)
            #expect(mk_attend_one_isa(isa, Int32(S), Int32(D), q, k, v, stride, mask, scale, &p, &y) == 1)
            let scores = (0..<S).map { j in mask[j] == 0 ? -Double.infinity : (0..<D).reduce(0.0) { $0 + Double(q[$1]) * Double(k[j * stride + $1]) } * Double(scale) }
            let top = scores.max()!, e = scores.map { exp($0 - top) }, z = e.reduce(0, +)
            for j in 0..<S { #expect(abs(Double(p[j]) - e[j] / z) <= 1e-6, "D \(D) S \(S) p[\(j)]") }
            for d in 0..<D {
                let expected = (0..<S).reduce(0.0) { $0 + e[$1] / z * Double(v[$1 * stride + d]) }
                #expect(abs(Double(y[d]) - expected) <= 1e-5 * (1 + abs(expected)), "D \(D) S \(S) y[\(d)]")
            }
        } } }
        var p = [Float](repeating: .nan, count: 5), y = [Float](repeating: .nan, count: 8)
        let none = [Int32](repeating: 0, count: 5), q = [Float](repeating: 1, count: 8), kv = [Float](repeating: 1, count: 40)
        #expect(mk_attend_one_isa(isa, 5, 8, q, kv, kv, 8, none, 1, &p, &y) == 1)
        #expect(p.allSatisfy { $0 == 0 } && y.allSatisfy { $0 == 0 }, "every key masked")
    }

    /// Rounding to bfloat16: to nearest, ties to even, NaN kept, and within 2^-9 relative.
    @Test func bfloat16Rounding() {
        let values: [Float] = [1, 1 + 1.0 / 256, 1 + 3.0 / 256, -2.5e-3, 3.0e38, .infinity, -.infinity, 0, -0.0]
        var half = [UInt16](repeating: 0, count: values.count), back = [Float](repeating: 0, count: values.count)
        mk_f32_to_bf16(values, &half, values.count)
        mk_bf16_to_f32(half, &back, values.count)
        #expect(back[0] == 1 && back[1] == 1, "1 + 2^-8 is a tie: to even (1)")
        #expect(back[2] == 1 + 4.0 / 256, "1 + 3·2^-8 is a tie: to even (1 + 2^-6)")
        for (v, b) in zip(values, back) where v.isFinite { #expect(abs(b - v) <= abs(v) / 256, "\(v) -> \(b)") }
        #expect(back[5] == .infinity && back[6] == -.infinity)
        var nan = [UInt16](repeating: 0, count: 1), nanBack = [Float](repeating: 0, count: 1)
        mk_f32_to_bf16([Float.nan], &nan, 1)
        mk_bf16_to_f32(nan, &nanBack, 1)
        #expect(nanBack[0].isNaN)
    }

    /// Linear over bfloat16 weights: the few-row path and the widening sgemm path agree with the
    /// float32 product of the rounded weights.
    @Test func linearOverBFloat16Weights() {
        let t = TestTensors()
        for rows in [1, 3, MatrixVector.maxRows + 5, 300] {
            let x = t.make([rows, 40]), w = t.make([70, 40]), y = t.zeros([rows, 70]), expected = t.zeros([rows, 70])
            let half = BF16Matrix(w)
            let widened = t.zeros([70, 40])
            half.floats().withUnsafeBufferPointer { widened.data.update(from: $0.baseAddress!, count: 70 * 40) }
            Linear.forward(y: y, x: x, w: .bf16(half))
            GEMM.multiply(Matrix(x), Matrix(widened), transposeB: true, into: Matrix(expected))
            for i in 0..<y.count { #expect(abs(y[i] - expected[i]) <= 1e-4 * (1 + abs(expected[i])), "\(rows) rows, element \(i)") }
        }
    }
}
