/// Which keys each of Wings' learners may attend to, and which query rows are routed: derived
/// once per forward, for a training batch and a cached forward alike.
///
/// Over the key positions j < start + n of each sequence b (stride S):
///
///     imageKeys[b, j] = real ∧ image,    textKeys[b, j] = real ∧ ¬image
///     routed[b·n + t] = some real image position ≤ start + t        (the new rows)
///
/// `real` is the padding mask, `image` whether the position holds a visual token. A row that
/// sees no image (text-only samples, text before the image) is not routed: Wings uses its
/// textual learner alone there.
struct WingsMasks {
    let imageKeys: UnsafeMutablePointer<Int32>  // (B·S) the visual learner's keys
    let textKeys: UnsafeMutablePointer<Int32>   // (B·S) the textual learner's keys
    let routed: UnsafeMutablePointer<UInt8>     // (N) new rows that see an image

    init(keys: Int, rows N: Int) {
        imageKeys = .allocate(capacity: keys); imageKeys.initialize(repeating: 0, count: keys)
        textKeys = .allocate(capacity: keys); textKeys.initialize(repeating: 0, count: keys)
        routed = .allocate(capacity: N); routed.initialize(repeating: 0, count: N)
    }

    func deallocate() { imageKeys.deallocate(); textKeys.deallocate(); routed.deallocate() }

    /// Derives the masks for `rows` new positions per sequence starting at `start`; returns
    /// whether any new row is routed.
    func update(batch B: Int, start: Int, rows n: Int, stride S: Int, keyMask: UnsafePointer<Int32>,
                imagePositions: UnsafePointer<UInt8>) -> Bool {
        var anyRouted = false
        for b in 0..<B {
            var seen = false
            for j in 0..<(start + n) {
                let p = b * S + j, real = keyMask[p] != 0, image = imagePositions[p] != 0
                imageKeys[p] = real && image ? 1 : 0
                textKeys[p] = real && !image ? 1 : 0
                seen = seen || (real && image)
                if j >= start { routed[b * n + j - start] = seen ? 1 : 0 }
            }
            anyRouted = anyRouted || seen
        }
        return anyRouted
    }
}
