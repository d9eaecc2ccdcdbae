import CKernels
import Foundation

/// Splits row-parallel work over the machine's cores (two here), through one persistent pool of
/// threads (`mk_parallel_for`): a dispatch costs about a microsecond while the pool is awake, so a
/// decode step's many small regions pay off where waking threads for each would not.
public enum Parallel {
    /// Worker count, the calling thread included: the online cores, or `MLLM_CL_THREADS`.
    public static let workers = Int(mk_parallel_threads())

    /// Calls `body` on disjoint sub-ranges of `0..<count` covering it, in parallel when
    /// `count * costPerItem` is large enough to pay for the split.
    @inline(__always)
    public static func forEach(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = Swift.min(workers, count)
        if chunks <= 1 || count * costPerItem < 32_768 {
            if count > 0 { body(0..<count) }
            return
        }
        forEachIndex(chunks) { c in body((count * c / chunks)..<(count * (c + 1) / chunks)) }
    }

    /// Calls `body(i)` for each i in `0..<count`, spread over the workers.
    public static func forEachIndex(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 || workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var task = body
            withUnsafeMutablePointer(to: &task) { context in
                mk_parallel_for(count, { context, i in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(i)
                }, context)
            }
        }
    }
}

/// Carries a non-Sendable value (a closure over raw pointers) into parallel workers
/// that touch disjoint memory.
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
