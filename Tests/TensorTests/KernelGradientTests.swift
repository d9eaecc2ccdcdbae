import Foundation
import Tensor
import TestSupport
import Testing

/// Finite-difference checks of every kernel's backward pass, for its input and every parameter.
/// Each test: loss = Σ out ⊙ dout with random dout; analytic gradients from `backward`
/// (which adds into zeroed buffers) against central differences.
struct KernelGradientTests {
    let bound = 1e-2

    /// Checks each (input, gradient) pair; `forward` recomputes `out` from the current inputs.
    func check(_ name: String, out: Tensor, dout: Tensor, pairs: [(String, Tensor, Tensor)],
               eps: Float = 1e-2, forward: () -> Void) {
        for (label, input, grad) in pairs {
            let e = GradientCheck.relativeError(of: input, analytic: grad, eps: eps) {
                forward()
                return GradientCheck.dot(out, dout)
            }
            #expect(e < bound, "\(name): d\(label) relative error \(e)")
        }
    }

    @Test func linear() {
        let t = TestTensors()
        let x = t.make([6, 5]), w = t.make([4, 5]), b = t.make([4]), y = t.zeros([6, 4]), dy = t.make([6, 4])
        let dx = t.zeros([6, 5]), dw = t.zeros([4, 5]), db = t.zeros([4])
        Linear.forward(y: y, x: x, w: w, b: b)
        Linear.backward(dx: dx, dw: dw, db: db, dy: dy, x: x, w: w)
        check("linear", out: y, dout: dy, pairs: [("x", x, dx), ("w", w, dw), ("b", b, db)]) {
            Linear.forward(y: y, x: x, w: w, b: b)
        }
    }

    @Test func rmsNorm() {
        let t = TestTensors()
        let x = t.make([5, 8]), w = t.make([8], scale: 0.5, offset: 1), y = t.zeros([5, 8]), rstd = t.zeros([5]), dy = t.make([5, 8])
        let dx = t.zeros([5, 8]), dw = t.zeros([8])
        RMSNorm.forward(y: y, rstd: rstd, x: x, w: w, eps: 1e-5)
        RMSNorm.backward(dx: dx, dw: dw, dy: dy, x: x, w: w, rstd: rstd)
        check("rmsnorm", out: y, dout: dy, pairs: [("x", x, dx), ("w", w, dw)], eps: 1e-3) {
            RMSNorm.forward(y: y, rstd: rstd, x: x, w: w, eps: 1e-5)
        }
    }

    @Test func layerNorm() {
        let t = TestTensors()
        let x = t.make([5, 8]), w = t.make([8], scale: 0.5, offset: 1), b = t.make([8]), y = t.zeros([5, 8])
        let mean = t.zeros([5]), rstd = t.zeros([5]), dy = t.make([5, 8])
        let dx = t.zeros([5, 8]), dw = t.zeros([8]), db = t.zeros([8])
        LayerNorm.forward(y: y, mean: mean, rstd: rstd, x: x, w: w, b: b, eps: 1e-5)
        LayerNorm.backward(dx: dx, dw: dw, db: db, dy: dy, x: x, w: w, mean: mean, rstd: rstd)
        check("layernorm", out: y, dout: dy, pairs: [("x", x, dx), ("w", w, dw), ("b", b, db)], eps: 1e-3) {
            LayerNorm.forward(y: y, mean: mean, rstd: rstd, x: x, w: w, b: b, eps: 1e-5)
        }
    }

    @Test func rope() {
        let t = TestTensors()
        let rope = RoPE(headSize: 4, maxPositions: 16, theta: 100)
        // 2 sequences of 3 rows, 2 heads of 4; start at position 5 to exercise offsets.
        let x = t.make([6, 8]), y = t.zeros([6, 8]), dy = t.make([6, 8]), dx = t.zeros([6, 8])
        let forward = { y.copy(from: x); rope.forward(y, heads: 2, rowsPerSequence: 3, startPosition: 5) }
        forward()
        dx.copy(from: dy)
        rope.backward(dx, heads: 2, rowsPerSequence: 3, startPosition: 5)
        check("rope", out: y, dout: dy, pairs: [("x", x, dx)], forward: forward)
        forward()
        // Rotate-half by hand for row 4 (sequence 1, t = 1, position 6), head 1, pair 1 (elements 5 and 7).
        let angle = 6 * Double(Float(1 / pow(100.0, 2.0 / 4)))
        let a = Double(x[4 * 8 + 5]), b = Double(x[4 * 8 + 7])
        #expect(abs(Double(y[4 * 8 + 5]) - (a * cos(angle) - b * sin(angle))) < 1e-5)
        #expect(abs(Double(y[4 * 8 + 7]) - (b * cos(angle) + a * sin(angle))) < 1e-5)
    }

    /// Positions past the tables (``RoPE/tableLimit``) are computed as they come, to the same
    /// values the tables hold, and rotate back exactly.
    @Test func ropePastItsTables() {
        let t = TestTensors()
        let L = RoPE.tableLimit, rope = RoPE(headSize: 4, maxPositions: L + 8, theta: 100)
        // One sequence of 4 rows from position L − 2: two rows from the tables, two computed.
        let x = t.make([4, 8]), y = t.zeros([4, 8])
        y.copy(from: x)
        rope.forward(y, heads: 2, rowsPerSequence: 4, startPosition: L - 2)
        for row in 0..<4 {
            let angle = Double(L - 2 + row) * Double(Float(1 / pow(100.0, 2.0 / 4)))
            let a = Double(x[row * 8 + 5]), b = Double(x[row * 8 + 7])
            let expected = a * cos(Double(Float(angle))) - b * sin(Double(Float(angle)))
            #expect(abs(Double(y[row * 8 + 5]) - expected) < 1e-4, "row \(row)")
        }
        rope.backward(y, heads: 2, rowsPerSequence: 4, startPosition: L - 2)
        for i in 0..<32 { #expect(abs(y[i] - x[i]) < 1e-5) }
    }

    @Test func swiglu() {
        let t = TestTensors()
        let gate = t.make([4, 6], scale: 3), up = t.make([4, 6]), out = t.zeros([4, 6]), dout = t.make([4, 6])
        let dgate = t.zeros([4, 6]), dup = t.zeros([4, 6])
        SwiGLU.forward(out: out, gate: gate, up: up)
        SwiGLU.backward(dgate: dgate, dup: dup, dout: dout, gate: gate, up: up)
        check("swiglu", out: out, dout: dout, pairs: [("gate", gate, dgate), ("up", up, dup)], eps: 1e-3) {
            SwiGLU.forward(out: out, gate: gate, up: up)
        }
    }

    @Test func gelu() {
        let t = TestTensors()
        let x = t.make([50], scale: 4), y = t.zeros([50]), dy = t.make([50]), dx = t.zeros([50])
        GELU.forward(y: y, x: x)
        GELU.backward(dx: dx, dy: dy, x: x)
        check("gelu", out: y, dout: dy, pairs: [("x", x, dx)], eps: 1e-3) { GELU.forward(y: y, x: x) }
        GELU.forward(y: y, x: x)  // the check leaves y from a perturbed input
        for i in 0..<50 {
            let v = Double(x[i])
            let reference = 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
            #expect(abs(Double(y[i]) - reference) < 1e-5)
        }
    }

    /// Each Hugging Face activation: backward against central differences, forward against its
    /// formula in double precision (quick_gelu x·σ(1.702x), gelu ½x(1 + erf(x/√2)), the tanh form).
    @Test(arguments: Activation.allCases) func activation(_ a: Activation) {
        let t = TestTensors()
        let x = t.make([64], scale: 4), y = t.zeros([64]), dy = t.make([64]), dx = t.zeros([64])
        a.forward(y: y, x: x)
        a.backward(dx: dx, dy: dy, x: x)
        check(a.rawValue, out: y, dout: dy, pairs: [("x", x, dx)], eps: 1e-3) { a.forward(y: y, x: x) }
        a.forward(y: y, x: x)
        for i in 0..<64 {
            let v = Double(x[i])
            let reference = switch a {
            case .quickGELU: v / (1 + exp(-1.702 * v))
            case .gelu: 0.5 * v * (1 + erf(v / 2.0.squareRoot()))
            case .geluTanh: 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
            }
            #expect(abs(Double(y[i]) - reference) < 1e-5, "\(a.rawValue)(\(v))")
        }
    }

    @Test func activationNames() {
        #expect(Activation(huggingFace: "quick_gelu") == .quickGELU)
        #expect(Activation(huggingFace: "gelu") == .gelu)
        #expect(Activation(huggingFace: "gelu_pytorch_tanh") == .geluTanh)
        #expect(Activation(huggingFace: "gelu_new") == .geluTanh)
        #expect(Activation(huggingFace: "relu") == nil)
    }

    @Test func softmax() {
        let t = TestTensors()
        let x = t.make([3, 7], scale: 3), y = t.zeros([3, 7]), dy = t.make([3, 7]), dx = t.zeros([3, 7])
        Softmax.forward(y: y, x: x)
        Softmax.backward(dx: dx, dy: dy, y: y)
        check("softmax", out: y, dout: dy, pairs: [("x", x, dx)], eps: 1e-3) { Softmax.forward(y: y, x: x) }
        for r in 0..<3 { #expect(abs((0..<7).reduce(0) { $0 + y[r * 7 + $1] } - 1) < 1e-5) }
    }

    @Test func embedding() {
        let t = TestTensors()
        let table = t.make([5, 3]), out = t.zeros([4, 3]), dout = t.make([4, 3]), dtable = t.zeros([5, 3])
        let ids: [Int32] = [2, 0, 2, 4]
        ids.withUnsafeBufferPointer { ids in
            Embedding.forward(out: out, ids: ids.baseAddress!, table: table)
            Embedding.backward(dtable: dtable, dout: dout, ids: ids.baseAddress!)
            check("embedding", out: out, dout: dout, pairs: [("table", table, dtable)]) {
                Embedding.forward(out: out, ids: ids.baseAddress!, table: table)
            }
        }
        #expect(dtable[3] == 0 && dtable[4] == 0 && dtable[5] == 0, "row 1 is never looked up")
    }

    @Test func crossEntropy() {
        let t = TestTensors()
        let logits = t.make([5, 6], scale: 2), losses = t.zeros([5]), grad = t.zeros([5, 6])
        let targets: [Int32] = [1, -100, 5, 0, -100]
        targets.withUnsafeBufferPointer { y in
            let (loss, count) = CrossEntropy.forward(losses: losses, logits: logits, targets: y.baseAddress!)
            #expect(count == 3)
            // By hand: mean of −log softmax at the three scored rows.
            var reference = 0.0
            for (row, target) in [(0, 1), (2, 5), (3, 0)] {
                let z = (0..<6).map { Double(logits[row * 6 + $0]) }
                reference += log(z.map { exp($0) }.reduce(0, +)) - z[target]
            }
            #expect(abs(Double(loss) - reference / 3) < 1e-5)
            grad.copy(from: logits)
            CrossEntropy.backward(logitsToGradient: grad, targets: y.baseAddress!, scale: 1 / Float(count))
            let e = GradientCheck.relativeError(of: logits, analytic: grad, eps: 1e-3) {
                Double(CrossEntropy.forward(losses: losses, logits: logits, targets: y.baseAddress!).loss)
            }
            #expect(e < bound, "cross-entropy dlogits relative error \(e)")
        }
    }

    /// Grouped-query attention (4 query heads over 2 kv heads), causal, with a padded key.
    @Test(arguments: [true, false]) func attention(causal: Bool) {
        let t = TestTensors(seed: causal ? 1 : 2)
        let B = 2, T = 5, NH = 4, NKV = 2, D = 3
        let shape = AttentionShape(batch: B, queries: T, keys: T, heads: NH, kvHeads: NKV, headSize: D, causal: causal)
        let q = t.make([B * T, NH * D]), k = t.make([B * T, NKV * D]), v = t.make([B * T, NKV * D])
        let y = t.zeros([B * T, NH * D]), att = t.zeros([B, NH, T, T]), datt = t.zeros([B, NH, T, T]), dy = t.make([B * T, NH * D])
        let dq = t.zeros(q.shape), dk = t.zeros(k.shape), dv = t.zeros(v.shape)
        var mask = [Int32](repeating: 1, count: B * T)
        mask[B * T - 1] = 0  // last key of sequence 1 is padding
        mask.withUnsafeBufferPointer { m in
            let forward = { Attention.forward(y: y, att: att, q: q, k: k, v: v, keyMask: m.baseAddress!, shape: shape) }
            forward()
            Attention.backward(dq: dq, dk: dk, dv: dv, datt: datt, dy: dy, att: att, q: q, k: k, v: v, shape: shape)
            check("attention", out: y, dout: dy, pairs: [("q", q, dq), ("k", k, dk), ("v", v, dv)], eps: 1e-3, forward: forward)
            // Masked entries carry no probability.
            for h in 0..<NH { for i in 0..<T { #expect(att[(((1 * NH) + h) * T + i) * T + (T - 1)] == 0) } }
            if causal { #expect(att[1] == 0, "query 0 cannot see key 1") }
        }
    }
}
