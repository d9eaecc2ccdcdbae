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
