import Foundation
import Model
import Tensor
import TestSupport
import Testing
import Train

struct OptimizerTests {
    func parameters() -> Parameters {
        let p = Parameters([ParameterInfo(name: "w", shape: [2, 2]), ParameterInfo(name: "b", shape: [2]), ParameterInfo(name: "frozen", shape: [3])])
        p.value("w").copy(from: [1, -2, 3, 0.5])
        p.value("b").copy(from: [0.5, -0.5])
        p.setTrainable(matching: ["w", "b"])
        p.gradient("w")!.copy(from: [0.1, 0.2, -0.3, 0])
        p.gradient("b")!.copy(from: [1, -1])
        return p
    }

    /// Two steps worked by hand from the update rule; decay touches the matrix only.
    @Test func adamWMatchesHandComputation() {
        let p = parameters()
        let c = AdamWConfig(beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.5)
        let opt = AdamW(parameters: p, config: c)
        #expect(opt.state.capacity == 2 * (16 + 16), "moments for w and b only")
        var w: [Double] = [1, -2, 3, 0.5], b: [Double] = [0.5, -0.5]
        let gw: [Double] = [0.1, 0.2, -0.3, 0], gb: [Double] = [1, -1]
        var mw = [Double](repeating: 0, count: 4), vw = mw, mb = [0.0, 0], vb = mb
        let lr = 0.01
        for t in 1...2 {
            opt.update(lr: Float(lr))
            for i in 0..<4 {
                w[i] *= 1 - lr * 0.5
                mw[i] = 0.9 * mw[i] + 0.1 * gw[i]; vw[i] = 0.99 * vw[i] + 0.01 * gw[i] * gw[i]
                w[i] -= lr * (mw[i] / (1 - pow(0.9, Double(t)))) / ((vw[i] / (1 - pow(0.99, Double(t)))).squareRoot() + 1e-8)
            }
            for i in 0..<2 {
                mb[i] = 0.9 * mb[i] + 0.1 * gb[i]; vb[i] = 0.99 * vb[i] + 0.01 * gb[i] * gb[i]
                b[i] -= lr * (mb[i] / (1 - pow(0.9, Double(t)))) / ((vb[i] / (1 - pow(0.99, Double(t)))).squareRoot() + 1e-8)
            }
        }
        for i in 0..<4 { #expect(abs(Double(p.value("w")[i]) - w[i]) < 1e-6) }
        for i in 0..<2 { #expect(abs(Double(p.value("b")[i]) - b[i]) < 1e-6) }
        #expect(p.value("frozen").array == [0, 0, 0])
    }

    /// A tensor's learning-rate multiplier scales its step; a pattern with `!` excludes from training.
    @Test func learningRateMultiplierScalesTheStep() {
        let full = parameters(), half = parameters()
        let c = AdamWConfig(beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0)
        AdamW(parameterSets: [full], config: c).update(lr: 0.01)
        AdamW(parameterSets: [half], config: c, lrMultiplier: { $0 == "w" ? 0.5 : 1 }).update(lr: 0.01)
        let start: [Float] = [1, -2, 3, 0.5]
        for i in 0..<4 {
            let dFull = full.value("w")[i] - start[i], dHalf = half.value("w")[i] - start[i]
            #expect(abs(dHalf - 0.5 * dFull) < 1e-6, "w[\(i)]: moved \(dHalf), the full rate moved \(dFull)")
        }
        #expect(half.value("b").array == full.value("b").array)
        #expect(parameters().setTrainable(matching: ["*", "!b"]) == ["w", "frozen"])
    }

    /// EWC: the penalty (λ/2) Σ F (θ − θ*)² and the gradient it adds, λ F (θ − θ*), agree with central
    /// differences; F is the mean of the squared gradients accumulated; frozen tensors carry none.
    @Test func ewcPenaltyGradientMatchesFiniteDifferences() {
        let p = parameters()
        let ewc = EWC(parameterSets: [p], lambda: 3)
        #expect(ewc.arena.capacity == 2 * (16 + 16), "Fisher and anchor for w and b only")
        ewc.accumulate()                                   // g as set by parameters()
        p.gradient("w")!.copy(from: [0.3, -0.1, 0.2, 0.4])
        p.gradient("b")!.copy(from: [0, 2])
        ewc.accumulate()
        ewc.finishFisher()
        #expect(ewc.penalty() == 0, "at the anchor")
        var rng = SeededGenerator(seed: 4)
        for name in ["w", "b"] { let t = p.value(name); for i in 0..<t.count { t[i] += rng.normal() } }
        p.zeroGradients()
        ewc.addGradient()
        let fisherW: [Float] = [(0.01 + 0.09) / 2, (0.04 + 0.01) / 2, (0.09 + 0.04) / 2, (0 + 0.16) / 2]
        let gw = p.gradient("w")!, w = p.value("w"), start: [Float] = [1, -2, 3, 0.5]
        for i in 0..<4 { #expect(abs(gw[i] - 3 * fisherW[i] * (w[i] - start[i])) < 1e-5) }
        for name in ["w", "b"] {
            let e = GradientCheck.relativeError(of: p.value(name), analytic: p.gradient(name)!, eps: 1e-2) { Double(ewc.penalty()) }
            #expect(e < 1e-3, "\(name): relative error \(e)")
        }
    }

    @Test func clippingScalesToMaxNorm() {
        let p = parameters()
        let norm = GradientClipping.clip(p, maxNorm: 0.5)
        #expect(abs(Double(norm) - (0.01 + 0.04 + 0.09 + 1 + 1).squareRoot()) < 1e-6)
        #expect(abs(GradientClipping.norm(p) - 0.5) < 1e-5)
        #expect(GradientClipping.clip(p, maxNorm: 10) < 10, "below the limit nothing changes")
        #expect(abs(GradientClipping.norm(p) - 0.5) < 1e-5)
    }

    @Test func schedules() {
        let cosine = LRSchedule(kind: .cosine, lr: 1, warmupSteps: 4, totalSteps: 14, minLRRatio: 0.1)
        #expect(cosine.rate(at: 0) == 0.25)
        #expect(cosine.rate(at: 3) == 1)
        #expect(abs(cosine.rate(at: 4) - 1) < 1e-6)
        #expect(abs(cosine.rate(at: 13) - 0.1) < 1e-6, "ends at the floor")
        let mid = cosine.rate(at: 4 + 9 / 2)  // p = 4/9
        #expect(abs(Double(mid) - (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * 4 / 9)))) < 1e-6)
        let linear = LRSchedule(kind: .linear, lr: 2, warmupSteps: 0, totalSteps: 11, minLRRatio: 0)
        #expect(abs(linear.rate(at: 5) - 1) < 1e-6)
        #expect(LRSchedule(kind: .constant, lr: 3, warmupSteps: 2, totalSteps: 10).rate(at: 7) == 3)
    }
}
