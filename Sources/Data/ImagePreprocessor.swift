import Foundation

/// LLaVA's image preprocessing: pad to a square with the mean colour, resize (bicubic) to the
/// encoder's size, scale by 1/255 and normalise per channel. Output is (3, S, S), channel first.
public struct ImagePreprocessor: Sendable, Equatable {
    public var size: Int
    public var mean: [Float]
    public var std: [Float]
    /// Whether to pad to a square first (LLaVA's `image_aspect_ratio: pad`).
    public var padToSquare: Bool

    /// CLIP's statistics (OpenAI): mean (0.48145466, 0.4578275, 0.40821073), std (0.26862954, 0.26130258, 0.27577711).
    public static func clip(size: Int) -> ImagePreprocessor {
        ImagePreprocessor(size: size, mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711], padToSquare: true)
    }

    /// SigLIP's: mean 0.5, std 0.5.
    public static func siglip(size: Int) -> ImagePreprocessor {
        ImagePreprocessor(size: size, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], padToSquare: true)
    }

    public init(size: Int, mean: [Float], std: [Float], padToSquare: Bool = true) {
        self.size = size
        self.mean = mean
        self.std = std
        self.padToSquare = padToSquare
    }

    /// The mean colour in 0…255 (LLaVA: `tuple(int(x * 255) for x in image_mean)`).
    public var padColor: [UInt8] { mean.map { UInt8(max(0, min(255, Int($0 * 255)))) } }

    /// Writes the (3, S, S) normalised pixels of `image` into `out`.
    public func process(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        let square = padToSquare ? pad(image) : image
        let resized = Self.resize(square, width: size, height: size)
        let S = size
        for c in 0..<3 {
            let scale = 1 / (255 * std[c]), shift = mean[c] / std[c]
            for p in 0..<(S * S) { out[c * S * S + p] = resized[p * 3 + c] * scale - shift }
        }
    }

    public func process(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * size * size)
        out.withUnsafeMutableBufferPointer { process(image, into: $0.baseAddress!) }
        return out
    }

    /// Centred on a square of the larger side, filled with the mean colour (LLaVA's `expand2square`).
    func pad(_ image: RGBImage) -> RGBImage {
        let side = max(image.width, image.height)
        guard side != image.width || side != image.height else { return image }
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        let fill = padColor
        for p in 0..<(side * side) { pixels[3 * p] = fill[0]; pixels[3 * p + 1] = fill[1]; pixels[3 * p + 2] = fill[2] }
        let x0 = (side - image.width) / 2, y0 = (side - image.height) / 2
        for y in 0..<image.height {
            let src = y * image.width * 3, dst = ((y + y0) * side + x0) * 3
            for i in 0..<(image.width * 3) { pixels[dst + i] = image.pixels[src + i] }
        }
        return RGBImage(width: side, height: side, pixels: pixels)
    }

    /// Bicubic (a = −0.5) resampling with PIL's antialiasing: when shrinking, the kernel widens
    /// by the scale factor. Separable: rows, then columns. Returns RGB floats in 0…255.
    public static func resize(_ image: RGBImage, width outW: Int, height outH: Int) -> [Float] {
        let horizontal = weights(input: image.width, output: outW)
        let vertical = weights(input: image.height, output: outH)
        var rows = [Float](repeating: 0, count: image.height * outW * 3)
        for y in 0..<image.height {
            for x in 0..<outW {
                let (start, k) = horizontal[x]
                for c in 0..<3 {
                    var s: Float = 0
                    for (j, w) in k.enumerated() { s += w * Float(image.pixels[(y * image.width + start + j) * 3 + c]) }
                    rows[(y * outW + x) * 3 + c] = s
                }
            }
        }
        var out = [Float](repeating: 0, count: outH * outW * 3)
        for y in 0..<outH {
            let (start, k) = vertical[y]
            for x in 0..<outW {
                for c in 0..<3 {
                    var s: Float = 0
                    for (j, w) in k.enumerated() { s += w * rows[((start + j) * outW + x) * 3 + c] }
                    out[(y * outW + x) * 3 + c] = min(255, max(0, s))
                }
            }
        }
        return out
    }

    /// Per output pixel: the first input pixel and the normalised kernel weights.
    static func weights(input: Int, output: Int) -> [(Int, [Float])] {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = 2 * filterScale
        return (0..<output).map { x in
            let center = (Double(x) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0), hi = min(Int(center + support + 0.5), input)
            var k = (lo..<hi).map { cubic((Double($0) - center + 0.5) / filterScale) }
            let total = k.reduce(0, +)
            if total != 0 { k = k.map { $0 / total } }
            return (lo, k.map(Float.init))
        }
    }

    /// Keys' cubic convolution kernel with a = −0.5.
    static func cubic(_ t: Double) -> Double {
        let a = -0.5, x = abs(t)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }
}
