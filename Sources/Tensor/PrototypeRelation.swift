import Foundation

/// The cross-modal structure MulKI keeps (adapted): an image feature's cosine similarities to
/// the class prototypes, softened into a distribution, and the student's pulled towards the
/// teachers' (weighted as the teachers are for the sample).
///
///     s(f)_c = softmax_c( cos(f, P_c) / τ )
///     loss   = Σ_i w_i KL( s(f_i) ‖ s(f) )                       f: the student's feature, f_i teacher i's
///     ∂loss/∂f = Σ_c (s(f)_c − s̄_c) / τ · ∂cos(f, P_c)/∂f,     s̄ = Σ_i w_i s(f_i)
///     ∂cos(f, P)/∂f = P / (|f| |P|) − cos(f, P) · f / |f|²
public enum PrototypeRelation {
    /// s(f) over the prototypes.
    public static func distribution(_ f: [Float], prototypes: [[Float]], temperature tau: Float) -> [Double] {
        let logits = prototypes.map { cosine(f, $0) / Double(tau) }
        let m = logits.max() ?? 0, e = logits.map { exp($0 - m) }, z = e.reduce(0, +)
        return e.map { $0 / z }
    }

    /// The loss of one image and its gradient with respect to the student's feature.
    public static func lossAndGradient(student f: [Float], teachers: [[Float]], weights: [Double], prototypes: [[Float]],
                                       temperature tau: Float) -> (loss: Double, gradient: [Float]) {
        let q = distribution(f, prototypes: prototypes, temperature: tau)
        var target = [Double](repeating: 0, count: prototypes.count), loss = 0.0
        for (i, t) in teachers.enumerated() {
            let p = distribution(t, prototypes: prototypes, temperature: tau)
            for c in p.indices where p[c] > 0 { loss += weights[i] * p[c] * (log(p[c]) - log(q[c])) }
            for c in p.indices { target[c] += weights[i] * p[c] }
        }
        let nf = norm(f)
        var gradient = [Double](repeating: 0, count: f.count)
        guard nf > 0 else { return (loss, gradient.map { Float($0) }) }
        for (c, P) in prototypes.enumerated() {
            let np = norm(P)
            guard np > 0 else { continue }
            let cos = cosine(f, P), k = (q[c] - target[c]) / Double(tau)
            for j in f.indices { gradient[j] += k * (Double(P[j]) / (nf * np) - cos * Double(f[j]) / (nf * nf)) }
        }
        return (loss, gradient.map { Float($0) })
    }

    static func norm(_ x: [Float]) -> Double { x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        let na = norm(a), nb = norm(b)
        guard na > 0, nb > 0 else { return 0 }
        return zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / (na * nb)
    }
}
