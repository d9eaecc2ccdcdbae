/// One 64-byte-aligned block of Float32 memory from which tensors are carved.
///
/// The model keeps one arena each for parameters, gradients, optimizer state and
/// activations; all are sized up front so that no training step allocates.
public final class Arena: @unchecked Sendable {
    /// Capacity in floats.
    public let capacity: Int
    /// Floats handed out so far.
    public private(set) var used = 0
    public let base: UnsafeMutablePointer<Float>

    /// Floats are handed out in multiples of 16 (64 bytes) to keep every tensor aligned.
    public static func rounded(_ count: Int) -> Int { (count + 15) & ~15 }

    /// The capacity needed for tensors of these shapes.
    public static func capacity(for shapes: [[Int]]) -> Int {
        shapes.reduce(0) { $0 + rounded($1.reduce(1, *)) }
    }

    public init(capacity: Int) {
        self.capacity = Arena.rounded(Swift.max(capacity, 16))
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 4 * self.capacity, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: self.capacity)
        base.initialize(repeating: 0, count: self.capacity)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    /// A zero-filled tensor of `shape` from the unused part of the arena.
    public func allocate(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        precondition(used + Arena.rounded(n) <= capacity, "arena of \(capacity) floats cannot hold \(shape) after \(used)")
        let t = Tensor(base + used, shape: shape)
        used += Arena.rounded(n)
        return t
    }

    /// The whole used region as one flat tensor.
    public var all: Tensor { Tensor(base, shape: [used]) }
    public var bytes: Int { 4 * capacity }

    public func zero() { base.update(repeating: 0, count: used) }
}

extension Arena {
    /// Lays out a group of tensors in one arena of exactly the size they need.
    ///
    /// `make` is called twice with an allocator: once to measure (the tensors it gets then
    /// point at nothing and must not be touched), once to build from the new arena.
    public static func build<Layout>(_ make: (_ allocate: ([Int]) -> Tensor) -> Layout) -> (Arena, Layout) {
        var total = 0
        // Sizing pass: a dangling, never-dereferenced pointer stands in for memory.
        let nowhere = UnsafeMutablePointer<Float>(bitPattern: 64)!
        _ = make { shape in
            total += rounded(shape.reduce(1, *))
            return Tensor(nowhere, shape: shape)
        }
        let arena = Arena(capacity: total)
        return (arena, make { arena.allocate($0) })
    }

    /// The bytes an arena built by `make` (as ``build(_:)`` calls it) would take, or nil when
    /// they exceed `Int.max`: sizes from a user's file are checked with it before anything is
    /// allocated. `make` gets tensors that point at nothing and must not touch them.
    public static func measure<Layout>(_ make: (_ allocate: ([Int]) -> Tensor) -> Layout) -> Int? {
        var total = 0, overflow = false
        let nowhere = UnsafeMutablePointer<Float>(bitPattern: 64)!
        _ = make { shape in
            var n = 1
            for d in shape {
                let (p, o) = n.multipliedReportingOverflow(by: d)
                overflow = overflow || o
                n = o ? 0 : p
            }
            let (t, o) = total.addingReportingOverflow(n < Int.max - 15 ? rounded(n) : n)
            overflow = overflow || o || n >= Int.max - 15
            total = o ? 0 : t
            return Tensor(nowhere, shape: [0])
        }
        let (bytes, o) = total.multipliedReportingOverflow(by: 4)
        return overflow || o ? nil : bytes
    }
}
