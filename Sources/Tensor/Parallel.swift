import Foundation

/// Splits row-parallel work over the machine's cores (two here).
public enum Parallel {
    /// Worker count; the CPU count of the machine.
    public static let workers = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body` on disjoint sub-ranges of `0..<count` covering it, in parallel when
    /// `count * costPerItem` is large enough to pay for the dispatch (about 20 µs).
    @inline(__always)
    public static func forEach(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = Swift.min(workers, count)
        if chunks <= 1 || count * costPerItem < 32_768 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                box.value((count * c / chunks)..<(count * (c + 1) / chunks))
            }
        }
    }

    /// Calls `body(i)` for each i in `0..<count`, spread over the workers.
    public static func forEachIndex(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 || workers == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
        }
    }
}

/// Carries a non-Sendable value (a closure over raw pointers) into parallel workers
/// that touch disjoint memory.
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
