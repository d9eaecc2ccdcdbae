/// What an adapter's state is for.
public enum AdapterStorage: Sendable {
    /// A training batch of B sequences of T tokens (activations kept for the backward pass).
    case training(batch: Int, sequence: Int)
    /// A KV cache of B sequences of up to `capacity` positions, fed `chunk` new tokens at most per call.
    case cache(batch: Int, capacity: Int, chunk: Int)
}

/// An adapter's buffers for one training batch or one KV cache. The KV-cache operations
/// mirror `KVCache`'s and default to nothing, for adapters that keep nothing across calls.
public protocol AdapterState: AnyObject {
    /// Memory it holds, in bytes (for memory reports).
    var bytes: Int { get }
    /// The cache forgets every position.
    func reset()
    /// Positions 0..<count of sequence 0 of `source` (a cache's state of the same adapter) are copied into every sequence.
    func broadcastPrefix(from source: any AdapterState, count: Int)
}

extension AdapterState {
    public var bytes: Int { 0 }
    public func reset() {}
    public func broadcastPrefix(from source: any AdapterState, count: Int) {}
}
