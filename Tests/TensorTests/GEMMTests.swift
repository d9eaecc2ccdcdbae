import Tensor
import TestSupport
import Testing

struct GEMMTests {
    /// Every transpose combination, alpha/beta, and strided views against a naive triple loop.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matchesNaiveProduct(transposeA: Bool, transposeB: Bool) {
        let t = TestTensors()
        let M = 7, N = 5, K = 6, stride = 9
        let aStorage = t.make([transposeA ? K : M, stride]), bStorage = t.make([transposeB ? N : K, stride])
        let c = t.make([M, N]), c0 = t.zeros([M, N])
        c0.copy(from: c)
        let a = Matrix(aStorage.data + 1, rows: transposeA ? K : M, columns: transposeA ? M : K, stride: stride)
        let b = Matrix(bStorage.data + 2, rows: transposeB ? N : K, columns: transposeB ? K : N, stride: stride)
        GEMM.multiply(a, transposeA: transposeA, b, transposeB: transposeB, into: Matrix(c), alpha: 0.5, beta: 2)
        for i in 0..<M {
            for j in 0..<N {
                var s: Float = 0
                for p in 0..<K {
                    let av = transposeA ? a.data[p * stride + i] : a.data[i * stride + p]
                    let bv = transposeB ? b.data[j * stride + p] : b.data[p * stride + j]
                    s += av * bv
                }
                #expect(abs(c[i * N + j] - (0.5 * s + 2 * c0[i * N + j])) < 1e-4)
            }
        }
    }

    @Test func batchedRunsEveryProduct() {
        let t = TestTensors()
        let a = t.make([8, 3, 4]), b = t.make([8, 4, 2]), c = t.zeros([8, 3, 2])
        GEMM.batched(8) { i in
            GEMM.multiply(Matrix(a.slice(i)), Matrix(b.slice(i)), into: Matrix(c.slice(i)))
        }
        for i in 0..<8 {
            for r in 0..<3 {
                for col in 0..<2 {
                    let s = (0..<4).reduce(Float(0)) { $0 + a[i * 12 + r * 4 + $1] * b[i * 8 + $1 * 2 + col] }
                    #expect(abs(c[i * 6 + r * 2 + col] - s) < 1e-5)
                }
            }
        }
    }
}

extension GEMMTests {
    /// Products large enough to be split over the cores, by rows (256×256×256) and by columns
    /// (64×512×512: too few rows), in every transpose combination with strided views, alpha and
    /// beta, against a naive product on a sample of entries.
    @Test(arguments: [(256, 256, 256), (64, 512, 512)], [(false, false), (true, false), (false, true), (true, true)])
    func splitProductsMatchNaive(shape: (Int, Int, Int), transposes: (Bool, Bool)) {
        let (M, N, K) = shape, (transposeA, transposeB) = transposes
        let expected: GEMM.Split = GEMM.threads == 1 ? .none : (M >= 64 * GEMM.threads ? .rows : .columns)
        #expect(GEMM.split(m: M, n: N, k: K) == expected && M * N * K >= GEMM.splitThreshold)
        let t = TestTensors(seed: 3)
        let aRows = transposeA ? K : M, aColumns = transposeA ? M : K, bRows = transposeB ? N : K, bColumns = transposeB ? K : N
        let aStorage = t.make([aRows, aColumns + 3]), bStorage = t.make([bRows, bColumns + 5]), cStorage = t.make([M, N + 2])
        let c0 = cStorage.array
        let a = Matrix(aStorage.data, rows: aRows, columns: aColumns, stride: aColumns + 3)
        let b = Matrix(bStorage.data, rows: bRows, columns: bColumns, stride: bColumns + 5)
        let c = Matrix(cStorage.data, rows: M, columns: N, stride: N + 2)
        GEMM.multiply(a, transposeA: transposeA, b, transposeB: transposeB, into: c, alpha: 0.5, beta: 2)
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<200 {
            let i = Int(rng.next() % UInt64(M)), j = Int(rng.next() % UInt64(N))
            var s = 0.0
            for p in 0..<K {
                let av = transposeA ? a.data[p * a.stride + i] : a.data[i * a.stride + p]
                let bv = transposeB ? b.data[j * b.stride + p] : b.data[p * b.stride + j]
                s += Double(av) * Double(bv)
            }
            let want = 0.5 * s + 2 * Double(c0[i * c.stride + j])
            #expect(abs(Double(c.data[i * c.stride + j]) - want) < 1e-3, "c[\(i), \(j)]")
        }
        // The padding columns of c are untouched.
        #expect((0..<M).allSatisfy { cStorage[$0 * c.stride + N] == c0[$0 * c.stride + N] && cStorage[$0 * c.stride + N + 1] == c0[$0 * c.stride + N + 1] })
    }
}
