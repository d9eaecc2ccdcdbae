import Tensor

/// Puts visual tokens into a sequence's embeddings where its image placeholders are.
///
/// forward:  embeddings[to] = visual[from]        for each (from, to)   embeddings: (B·T, C)  visual: (K, C)
/// backward: dvisual[from] = dembeddings[to]      (the placeholders' own embeddings get nothing)
public enum ImageSplice {
    public static func forward(embeddings: Tensor, visual: Tensor, rows: [(from: Int, to: Int)]) {
        let C = embeddings.lastDimension
        precondition(visual.lastDimension == C)
        for (from, to) in rows { (embeddings.data + to * C).update(from: visual.data + from * C, count: C) }
    }

    public static func backward(dvisual: Tensor, dembeddings: Tensor, rows: [(from: Int, to: Int)]) {
        let C = dembeddings.lastDimension
        for (from, to) in rows { (dvisual.data + from * C).update(from: dembeddings.data + to * C, count: C) }
    }
}
