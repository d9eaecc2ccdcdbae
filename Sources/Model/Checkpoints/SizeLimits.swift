import Foundation

/// The domains of a config's sizes, checked before anything is allocated: each size within a
/// documented bound, and the weights' float32 bytes (a product of sizes, computed without
/// overflow) within the machine's physical memory. A config.json or recipe that breaks one is an
/// error naming the file, the key and the limit, never a trap or a failed allocation.
public enum SizeLimits {
    /// Upper bounds (inclusive) per key; far above any published model of the families run here.
    public static let bounds: [String: Int] = [
        "hidden_size": 65_536, "intermediate_size": 1 << 20, "num_hidden_layers": 1_024, "num_attention_heads": 1_024,
        "num_key_value_heads": 1_024, "vocab_size": 1 << 24, "max_position_embeddings": 1 << 22, "head_dim": 4_096,
        "image_size": 8_192, "patch_size": 1_024,
    ]

    /// Throws unless `value` of `key` is within 1...bound.
    static func check(_ key: String, _ value: Int, file: String, section: String? = nil) throws {
        let bound = bounds[key] ?? Int.max
        guard value >= 1, value <= bound else {
            throw ModelError("\(file): \(section.map { "\($0): " } ?? "")'\(key)' must be in 1...\(bound), got \(value)")
        }
    }

    /// Σ of products, as float32 bytes, or nil on overflow.
    static func bytes(_ counts: [[Int]]) -> Int? {
        var total = 0
        for shape in counts {
            var n = 4
            for d in shape {
                let (p, o) = n.multipliedReportingOverflow(by: d)
                guard !o else { return nil }
                n = p
            }
            let (t, o) = total.addingReportingOverflow(n)
            guard !o else { return nil }
            total = t
        }
        return total
    }

    /// The memory a model may take, in bytes: the smallest of physical memory, the cgroup's
    /// `memory.max` (a container's limit, which physical memory does not show), the address-space
    /// limit (`ulimit -v`) and `MLLM_CL_MEMORY_LIMIT` (bytes, or with a K, M or G suffix: `512M`).
    public static var availableMemory: Int {
        var limits = [Int(clamping: ProcessInfo.processInfo.physicalMemory)]
        var addressSpace = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &addressSpace) == 0, addressSpace.rlim_cur != rlim_t.max {
            limits.append(Int(clamping: addressSpace.rlim_cur))
        }
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            limits.append(bytes)
        }
        if let text = ProcessInfo.processInfo.environment["MLLM_CL_MEMORY_LIMIT"], let bytes = byteCount(text) {
            limits.append(bytes)
        }
        return limits.min()!
    }

    /// `text` as a byte count: digits with an optional K, M or G (powers of 1024).
    static func byteCount(_ text: String) -> Int? {
        let shifts: [Character: Int] = ["K": 10, "M": 20, "G": 30]
        guard let last = text.uppercased().last else { return nil }
        let shift = shifts[last] ?? 0
        guard let n = Int(shift == 0 ? text : String(text.dropLast())), n > 0, n < 1 << (62 - shift) else { return nil }
        return n << shift
    }

    /// Throws when working memory of `bytes` (nil: more than `Int.max`), on top of the `held`
    /// bytes already taken (the weights), would not fit in ``availableMemory``. `what` says what
    /// it is for and `remedy` which setting to lower: the message names both.
    public static func checkWorkingMemory(_ bytes: Int?, held: Int = 0, what: String, remedy: String) throws {
        let available = availableMemory
        let (total, overflow) = (bytes ?? Int.max).addingReportingOverflow(held)
        guard bytes != nil, !overflow, total <= available else {
            let size = bytes.map { gigabytes($0) } ?? "more than 2^63 bytes"
            let besides = held > 0 ? " besides the \(gigabytes(held)) the model takes" : ""
            throw ModelError("\(what) would take \(size)\(besides), more than the \(gigabytes(available)) of memory available: \(remedy)")
        }
    }

    /// "1.3 GB" (or "42 MB" below a gigabyte).
    static func gigabytes(_ bytes: Int) -> String {
        bytes >= 1_000_000_000 ? String(format: "%.1f GB", Double(bytes) / 1e9) : String(format: "%.0f MB", (Double(bytes) / 1e6).rounded(.up))
    }

    /// Throws when `what`'s weights (`shapes`) would not fit in ``availableMemory``.
    static func checkMemory(_ shapes: [[Int]], what: String, file: String) throws {
        let available = availableMemory
        let total = bytes(shapes)
        guard let total, total <= available else {
            let size = total.map { String(format: "%.1f GB", Double($0) / 1e9) } ?? "more than 2^63 bytes"
            throw ModelError("\(file): \(what) would take \(size) of float32 weights, more than the \(String(format: "%.1f GB", Double(available) / 1e9)) of memory available")
        }
    }
}

extension DecoderConfig {
    /// The sizes within ``SizeLimits`` and the weights within memory.
    func checkSizes(file: String) throws {
        for (key, value) in [("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                             ("num_key_value_heads", numKeyValueHeads), ("intermediate_size", intermediateSize), ("vocab_size", vocabSize),
                             ("max_position_embeddings", maxPositionEmbeddings)] + (headDim.map { [("head_dim", $0)] } ?? []) {
            try SizeLimits.check(key, value, file: file)
        }
        let C = hiddenSize, I = intermediateSize, V = vocabSize, L = numHiddenLayers, Q = numAttentionHeads * headSize, K = numKeyValueHeads * headSize
        let perLayer: [[Int]] = [[Q, C], [K, C], [K, C], [C, Q], [I, C], [I, C], [C, I]]
        try SizeLimits.checkMemory([[V, C], tieWordEmbeddings ? [0] : [V, C]] + Array(repeating: perLayer, count: L).flatMap { $0 },
                                   what: "the decoder", file: file)
    }
}

extension VisionConfig {
    /// The sizes within ``SizeLimits`` and the weights within memory.
    func checkSizes(file: String) throws {
        for (key, value) in [("hidden_size", hiddenSize), ("intermediate_size", intermediateSize), ("num_hidden_layers", numHiddenLayers),
                             ("num_attention_heads", numAttentionHeads), ("image_size", imageSize), ("patch_size", patchSize)] {
            try SizeLimits.check(key, value, file: file, section: "vision_config")
        }
        let C = hiddenSize, I = intermediateSize
        try SizeLimits.checkMemory([[C, 3, patchSize, patchSize], [patchCount + 1, C]]
                                   + Array(repeating: [[4 * C, C], [I, C], [C, I]], count: numHiddenLayers).flatMap { $0 },
                                   what: "the vision tower", file: file)
    }
}
