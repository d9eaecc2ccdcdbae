import Tensor

/// One forward pass as an adapter hook sees it: B sequences each getting `rows` new positions
/// starting at `start`, with the key side laid out `keyStride` positions per sequence.
///
/// A training batch is the case start = 0, rows = keyStride = T; a cached forward has
/// start = the cache length and keyStride = the cache capacity. One description covers both,
/// so an adapter computes training and cached decoding with the same code.
///
/// Legend: B sequences, n = `rows`, N = B·n new rows, S = `keyStride`, C hidden.
public struct AdapterPass {
    /// The decoder's parameters (a distillation teacher's snapshot for the teacher).
    public let parameters: Parameters
    /// The adapter's own state for this batch or cache (`DecoderAdapter.makeState`).
    public let state: any AdapterState
    public let batch: Int
    public let rows: Int
    public let start: Int
    public let keyStride: Int
    /// (B, S): 1 = a real position, 0 = padding (positions ≥ start + rows are not yet written).
    public let keyMask: UnsafePointer<Int32>
    /// (B): left-padding positions per sequence (nil: none).
    public let keyOffset: [Int]?
    /// (N): 1 = the new row's embedding is a visual token (an image placeholder's slot).
    public let imageRows: UnsafePointer<UInt8>
    /// (N, C): the new rows' input embeddings, visual tokens spliced in; valid for the whole pass.
    public let inputEmbeddings: Tensor
}

/// A backward pass as an adapter hook sees it (training only).
public struct AdapterBackwardPass {
    public let forward: AdapterPass
    /// false: leave every parameter gradient as it is (a layer-input gradient alone).
    public let parameterGradients: Bool
    /// The decoder's backward scratch, free for the adapter to use inside `afterAttentionBackward`
    /// (the decoder overwrites it right after): dq, dattY (N, NH·D), dk, dv (N, NKV·D), datt (B, NH, T, T).
    public let scratch: AdapterScratch

    public var parameters: Parameters { forward.parameters }
    public var state: any AdapterState { forward.state }

    /// The gradient of the tensor at `slot` when it trains and this pass accumulates gradients.
    public func gradient(_ slot: ParameterSlot) -> Tensor? { parameterGradients ? forward.parameters.gradient(slot) : nil }
}

/// Buffers of the decoder's backward pass that an adapter may use as scratch (see `AdapterBackwardPass.scratch`).
public struct AdapterScratch {
    public let dq: Tensor
    public let dk: Tensor
    public let dv: Tensor
    public let datt: Tensor
    public let dattY: Tensor
}

/// The main attention of a layer, as an adapter hook sees it: probabilities (B, NH, n, S) and their shape.
public struct AttentionProbabilities {
    public let probabilities: Tensor
    public let shape: AttentionShape
}
