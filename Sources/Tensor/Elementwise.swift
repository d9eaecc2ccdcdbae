/// Vectorised elementwise operations over whole tensors.
public enum Elementwise {
    /// y = a + b  (y may alias a or b).
    public static func add(_ y: Tensor, _ a: Tensor, _ b: Tensor) {
        precondition(y.count == a.count && a.count == b.count)
        Parallel.forEach(y.count, costPerItem: 1) { r in
            for i in r { y.data[i] = a.data[i] + b.data[i] }
        }
    }

    /// y += alpha · x.
    public static func addScaled(_ y: Tensor, _ x: Tensor, alpha: Float = 1) {
        precondition(y.count == x.count)
        Parallel.forEach(y.count, costPerItem: 1) { r in
            for i in r { y.data[i] += alpha * x.data[i] }
        }
    }

    /// x *= alpha.
    public static func scale(_ x: Tensor, by alpha: Float) {
        Parallel.forEach(x.count, costPerItem: 1) { r in
            for i in r { x.data[i] *= alpha }
        }
    }

    /// Σ x², accumulated in Double.
    public static func sumOfSquares(_ x: Tensor) -> Double {
        var s: Double = 0
        var i = 0
        while i < x.count {
            let end = Swift.min(x.count, i + 4096)
            var part: Float = 0
            for j in i..<end { part += x.data[j] * x.data[j] }
            s += Double(part)
            i = end
        }
        return s
    }
}
