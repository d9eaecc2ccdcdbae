import Tensor

/// Visual tokens and the rows they go to: row `from` of `tokens` (K, C) replaces the embedding
/// of row `to` of the rows a forward pass embeds — a training batch's B·T rows, or the new rows
/// of a cached forward. The one placement type of training, evaluation and inference.
///
/// `tokens` is a view into the buffers that produced it (an `ImageEncoding`, a training batch's
/// activations): keep them alive while the value is used.
public struct VisualTokens {
    /// (K, C) the projected (and, with Parrot, routed) visual tokens.
    public let tokens: Tensor
    public var placement: [(from: Int, to: Int)]

    public init(tokens: Tensor, placement: [(from: Int, to: Int)] = []) {
        self.tokens = tokens
        self.placement = placement
    }

    /// Where image `image`'s F tokens (rows image·F ..< image·F + F of `tokens`) go: the first F
    /// `imageToken` placeholders of `sequence`, whose row r is row `rowOffset + r` of the pass
    /// (fewer than F entries when the sequence was cut short).
    public static func placement(image: Int, tokensPerImage F: Int, imageToken: Int32, in sequence: UnsafeBufferPointer<Int32>,
                                 rowOffset: Int) -> [(from: Int, to: Int)] {
        var placed: [(from: Int, to: Int)] = []
        for (r, token) in sequence.enumerated() where token == imageToken && placed.count < F {
            placed.append((from: image * F + placed.count, to: rowOffset + r))
        }
        return placed
    }

    /// The entries of a pass of B sequences of T rows whose column (row within its sequence)
    /// falls in `columns`, moved to the pass of those columns alone (B sequences of
    /// `columns.count` rows): one chunk of a batched prompt.
    public func columns(_ columns: Range<Int>, rowsPerSequence T: Int) -> VisualTokens {
        let n = columns.count
        return VisualTokens(tokens: tokens, placement: placement.compactMap { p in
            let b = p.to / T, t = p.to % T
            return columns.contains(t) ? (p.from, b * n + t - columns.lowerBound) : nil
        })
    }

    /// The entries whose rows fall in `rows`, shifted to start at 0 (one chunk of a longer context).
    public func chunk(_ rows: Range<Int>) -> VisualTokens {
        VisualTokens(tokens: tokens, placement: placement.compactMap { rows.contains($0.to) ? ($0.from, $0.to - rows.lowerBound) : nil })
    }
}
