import Tensor

/// A linear projection of a decoder layer, by PEFT's `target_modules` name.
public enum Projection: String, CaseIterable, Sendable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj"
    case gate = "gate_proj", up = "up_proj", down = "down_proj"

    /// Its weight's (in, out) in a decoder of `c`: y (N, out) = x (N, in)·Wᵀ.
    public func shape(in c: DecoderConfig) -> (input: Int, output: Int) {
        let QC = c.numAttentionHeads * c.headSize
        switch self {
        case .q: return (c.hiddenSize, QC)
        case .k, .v: return (c.hiddenSize, c.kvSize)
        case .o: return (QC, c.hiddenSize)
        case .gate, .up: return (c.hiddenSize, c.intermediateSize)
        case .down: return (c.intermediateSize, c.hiddenSize)
        }
    }

    /// The module it sits in: `self_attn` or `mlp`.
    public var module: String { [.q, .k, .v, .o].contains(self) ? "self_attn" : "mlp" }

    /// The Hugging Face name of its weight in `layer` without the `.weight` suffix
    /// (`model.layers.3.self_attn.q_proj`): adapters name their tensors after it.
    public func path(layer: Int) -> String { "model.layers.\(layer).\(module).\(rawValue)" }
}

/// How an adapter's tensors get into a decoder: a config (`WingsConfig`, later LoRA's) that,
/// when the decoder lays out its parameter table, declares the adapter's tensors after the
/// decoder's own and returns the adapter that computes with them.
public protocol DecoderAdapterSpec: Sendable {
    /// Declares this adapter's tensors in `table` (the decoder's have been declared) and
    /// returns the adapter, holding their slots.
    func attach(to config: DecoderConfig, table: inout ParameterTableBuilder) -> any DecoderAdapter
    /// `config` with this adapter recorded in it (what `config.json` will carry).
    func recorded(in config: DecoderConfig) -> DecoderConfig
}

/// Something attached to a decoder rather than built into it (llama.cpp's control vectors,
/// mlx's `LoRALinear`): tensors of its own in the decoder's parameter table, its own buffers
/// and KV-cache state, and a forward and backward that the decoder calls at fixed hook points.
///
/// Per layer `l`, forward (training and cached decoding alike):
///
///     (once)  beginForward                    before layer 0 (or the first layer a pass reruns)
///     y_p = x_p·W_pᵀ (+ b_p);  projection(p, l, x_p, y_p)    for p in q, k, v, o, gate, up, down: y_p += Δ
///     h = x + y_o;             afterAttention(l, h, P)       h updated in place (P: the attention probabilities)
///
/// and backward (training), in reverse:
///
///     beginBackward;  afterAttentionBackward(l, dh) -> dΣ_h P;  projectionBackward(p, l, dy, x, dx);  endBackward(dx₀)
///
/// Every hook has a default that does nothing, so an adapter implements only its own points.
/// See "Adding an adapter" in the documentation catalogue (`Sources/Train/Train.docc`).
public protocol DecoderAdapter: AnyObject, Sendable {
    /// One line for the training log: what is attached where, and its parameter count.
    func summary(_ parameters: Parameters) -> String
    /// Gives the adapter's tensors their initial values (a fresh adapter should change nothing).
    func initialize(_ parameters: Parameters, seed: UInt64)
    /// The adapter's state for one training batch (saved activations) or one KV cache.
    func makeState(_ storage: AdapterStorage) -> any AdapterState
    /// Whether what the adapter adds to a row depends on that row alone (LoRA), not on other
    /// positions or sequences (Wings' learners attend over them): such adapters decode in
    /// continuous batches, each sequence at its own position (`DecoderModel.step`).
    var rowIndependent: Bool { get }

    /// Before the first layer a pass runs (`fromLayer`: 0, or where a rerun starts).
    func beginForward(_ pass: AdapterPass, fromLayer: Int)
    /// `y` (N, out) = `x` (N, in)·Wᵀ of `projection` in `layer` has just been computed: add to it.
    func projection(_ projection: Projection, layer: Int, x: Tensor, y: Tensor, _ pass: AdapterPass)
    /// `h` (N, C) holds x + o_proj(attention) of `layer`, before the MLP's norm: update it in place.
    func afterAttention(layer: Int, h: Tensor, attention: AttentionProbabilities, _ pass: AdapterPass)

    /// Before the backward pass reaches the last layer.
    func beginBackward(_ pass: AdapterBackwardPass)
    /// `dh` holds d loss / d(the `h` of `afterAttention`): turn it, in place, into the gradient
    /// of h before the hook. Returns the gradient with respect to Σ_heads P over the first L keys
    /// ((N, L); the attention's backward adds it to every head), or nil.
    func afterAttentionBackward(layer: Int, dh: Tensor, _ pass: AdapterBackwardPass) -> Tensor?
    /// From `dy` of `projection`: add into `dx` and the adapter's gradients.
    func projectionBackward(_ projection: Projection, layer: Int, dy: Tensor, x: Tensor, dx: Tensor, _ pass: AdapterBackwardPass)
    /// After layer 0 (full backward passes only): add what the adapter owes the input embeddings into `inputGradient` (N, C).
    func endBackward(inputGradient: Tensor, _ pass: AdapterBackwardPass)
}

extension DecoderAdapter {
    public var rowIndependent: Bool { false }
    public func beginForward(_ pass: AdapterPass, fromLayer: Int) {}
    public func projection(_ projection: Projection, layer: Int, x: Tensor, y: Tensor, _ pass: AdapterPass) {}
    public func afterAttention(layer: Int, h: Tensor, attention: AttentionProbabilities, _ pass: AdapterPass) {}
    public func beginBackward(_ pass: AdapterBackwardPass) {}
    public func afterAttentionBackward(layer: Int, dh: Tensor, _ pass: AdapterBackwardPass) -> Tensor? { nil }
    public func projectionBackward(_ projection: Projection, layer: Int, dy: Tensor, x: Tensor, dx: Tensor, _ pass: AdapterBackwardPass) {}
    public func endBackward(inputGradient: Tensor, _ pass: AdapterBackwardPass) {}
}
