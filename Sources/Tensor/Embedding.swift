/// Token embedding lookup.  Legend: N tokens, V vocabulary, C channels.
///
/// out[n] = table[ids[n]].   ids: (N)   table: (V, C)   out: (N, C)
public enum Embedding {
    public static func forward(out: Tensor, ids: UnsafePointer<Int32>, table: Tensor) {
        let C = table.lastDimension, V = table.shape[0], N = out.rowCount
        for n in 0..<N {
            let id = Int(ids[n])
            precondition(id >= 0 && id < V, "token id \(id) outside the vocabulary of \(V)")
            (out.data + n * C).update(from: table.data + id * C, count: C)
        }
    }

    /// Adds into dtable:  dtable[ids[n]] += dout[n], except rows with `skip[n]` ≠ 0 (rows whose
    /// embedding was replaced after the lookup, such as image tokens).
    public static func backward(dtable: Tensor, dout: Tensor, ids: UnsafePointer<Int32>, skip: UnsafePointer<UInt8>? = nil) {
        let C = dtable.lastDimension, N = dout.rowCount
        for n in 0..<N where skip.map({ $0[n] == 0 }) ?? true {
            let d = dtable.data + Int(ids[n]) * C, g = dout.data + n * C
            for i in 0..<C { d[i] += g[i] }
        }
    }
}
