import Foundation

/// The processes a training run spans and the collective operations data-parallel training
/// needs: every rank holds the whole model, sums its gradients and loss counts with the others',
/// and rank 0 alone writes. One process is a communicator of size 1 whose operations do nothing.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index, 0..<size.
    var rank: Int { get }
    /// The processes of the job.
    var size: Int { get }
    /// Replaces `values[0..<count]` on every rank by its sum over the ranks.
    func allreduceSum(_ values: UnsafeMutablePointer<Float>, count: Int)
    /// The same for a few doubles (counts, loss sums): exact for integers below 2^53.
    func allreduceSum(_ values: inout [Double])
    /// Returns once every rank has called it.
    func barrier()
    /// Ends every rank of the job at once with `code` (one rank's error must not leave the
    /// others waiting in a collective).
    func abort(code: Int32) -> Never
    /// Leaves the job (MPI_Finalize); call once, after the last collective.
    func finish()
}

extension Communicator {
    /// Rank 0: the one that writes checkpoints, logs and reports.
    public var isMain: Bool { rank == 0 }

    /// Σ over the ranks of one integer.
    public func sum(_ value: Int) -> Int {
        guard size > 1 else { return value }
        var v = [Double(value)]
        allreduceSum(&v)
        return Int(v[0])
    }
}

/// One process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    public func allreduceSum(_ values: inout [Double]) {}
    public func barrier() {}
    public func abort(code: Int32) -> Never { exit(code) }
    public func finish() {}
}
