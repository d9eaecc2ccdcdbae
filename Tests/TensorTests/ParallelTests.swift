import Foundation
import Tensor
import Testing

struct ParallelTests {
    /// Above the cost threshold the range is cut into one chunk per worker, run concurrently:
    /// the chunks are contiguous, disjoint and cover every index exactly once.
    @Test func chunkedForEachCoversEveryIndexOnce() {
        let count = 100_003
        let visits = UnsafeMutablePointer<Int32>.allocate(capacity: count)
        visits.initialize(repeating: 0, count: count)
        defer { visits.deallocate() }
        let lock = NSLock()
        var chunks: [Range<Int>] = []
        Parallel.forEach(count, costPerItem: 4) { range in
            lock.lock(); chunks.append(range); lock.unlock()
            for i in range { visits[i] += 1 }
        }
        #expect(chunks.count == min(Parallel.workers, count), "one chunk per worker")
        let sorted = chunks.sorted { $0.lowerBound < $1.lowerBound }
        #expect(sorted.first?.lowerBound == 0 && sorted.last?.upperBound == count)
        #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(sorted)")
        #expect((0..<count).allSatisfy { visits[$0] == 1 })
    }

    /// Below the threshold the whole range runs as one call.
    @Test func smallWorkRunsInOneCall() {
        var calls: [Range<Int>] = []
        Parallel.forEach(100, costPerItem: 10) { calls.append($0) }
        #expect(calls == [0..<100])
        Parallel.forEach(0) { calls.append($0) }
        #expect(calls.count == 1, "an empty range calls nothing")
    }

    /// forEachIndex calls every index once.
    @Test func forEachIndexCallsEachIndexOnce() {
        let lock = NSLock()
        var seen: [Int] = []
        Parallel.forEachIndex(17) { i in lock.lock(); seen.append(i); lock.unlock() }
        #expect(seen.sorted() == Array(0..<17))
    }
}
