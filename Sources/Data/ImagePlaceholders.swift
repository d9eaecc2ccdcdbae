/// An `<image>` placeholder becomes as many copies of itself as the vision tower yields visual
/// tokens: the slots the visual tokens are spliced into (`VisualTokens` in the Model module).
/// Training samples, evaluation contexts and inference prompts all expand this way.
public enum ImagePlaceholders {
    /// `ids` with every `imageToken` repeated `count` times.
    public static func expand(_ ids: [Int32], imageToken: Int32, count F: Int) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(ids.count + F)
        for t in ids {
            if t == imageToken { out += Array(repeating: t, count: F) } else { out.append(t) }
        }
        return out
    }

    /// `s` expanded the same way, the copies unsupervised, and tied to image `image` of its dataset.
    public static func expand(_ s: Sample, imageToken: Int32, count F: Int, image: Int) -> Sample {
        var tokens: [Int32] = [], supervised: [Bool] = []
        for (t, sup) in zip(s.tokens, s.supervised) {
            if t == imageToken {
                tokens += Array(repeating: t, count: F)
                supervised += Array(repeating: false, count: F)
            } else {
                tokens.append(t)
                supervised.append(sup)
            }
        }
        return Sample(tokens: tokens, supervised: supervised, image: image)
    }
}
