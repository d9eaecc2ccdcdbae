import Foundation

/// Bicubic resampling as Pillow's `Image.resize(size, Image.BICUBIC)` does it (libImaging's
/// `Resample.c`), which CLIPImageProcessor and SiglipImageProcessor call: Keys' cubic kernel
/// with a = −0.5, widened by the scale factor when shrinking (antialiasing); separable,
/// horizontal pass first, then vertical, except (Pillow 13) when the height shrinks by more
/// than twice as many pixels as the width: then vertical first. Pillow 12 and earlier always
/// go horizontal first, which differs from 13 by a few levels in those cases.
///
/// Two precisions share the coefficients:
/// - ``Precision/pillow``: Pillow's 8-bit path exactly: coefficients in 22-bit fixed point, each
///   pass rounded and clipped to 0…255 (the output equals Pillow's to the pixel).
/// - ``Precision/float``: the same kernel in floating point without intermediate rounding,
///   as this project resized before it read preprocessor configs (kept for those checkpoints).
///
/// Input and output: RGB, rows top to bottom, pixels interleaved.
public enum BicubicResize {
    public enum Precision: String, Sendable, Codable { case pillow, float }

    /// Pillow's `PRECISION_BITS` (32 − 8 − 2).
    static let precisionBits = 22

    /// Per output pixel: the first input pixel and the normalised weights (Pillow's `precompute_coeffs`,
    /// which scales the kernel's argument by 1/filterscale; `.float` divides, as this project did before).
    static func coefficients(input: Int, output: Int, precision: Precision = .pillow) -> [(start: Int, weights: [Double])] {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = 2 * filterScale, inverseScale = 1 / filterScale
        return (0..<output).map { x in
            let center = (Double(x) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0), hi = min(Int(center + support + 0.5), input)
            var k = (lo..<max(lo, hi)).map { i in
                cubic(precision == .pillow ? (Double(i) - center + 0.5) * inverseScale : (Double(i) - center + 0.5) / filterScale)
            }
            let total = k.reduce(0, +)
            if total != 0 { k = k.map { $0 / total } }
            return (lo, k)
        }
    }

    /// Keys' cubic convolution kernel with a = −0.5 (Pillow's `bicubic_filter`).
    static func cubic(_ t: Double) -> Double {
        let a = -0.5, x = abs(t)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// `image` resampled to `width` x `height`, as 8-bit RGB (Pillow's rounding).
    public static func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if image.width == width && image.height == height { return image }
        let fixed = { (k: [(start: Int, weights: [Double])]) in
            k.map { ($0.start, $0.weights.map { w in Int32(w < 0 ? -0.5 + w * Double(1 << precisionBits) : 0.5 + w * Double(1 << precisionBits)) }) }
        }
        let horizontal = { (pixels: [UInt8], lines: Int) in
            pass(pixels, lines: lines, inStride: 3, inStep: image.width * 3, outCount: width, outStride: 3, outStep: width * 3,
                 coefficients: fixed(coefficients(input: image.width, output: width)))
        }
        let vertical = { (pixels: [UInt8], w: Int) in
            pass(pixels, lines: w, inStride: w * 3, inStep: 3, outCount: height, outStride: w * 3, outStep: 3,
                 coefficients: fixed(coefficients(input: image.height, output: height)))
        }
        let shrinkY = image.height - height, shrinkX = image.width - width
        var pixels = image.pixels
        if shrinkY > 0 && shrinkY > 2 * shrinkX {
            pixels = vertical(pixels, image.width)
            if width != image.width { pixels = horizontal(pixels, height) }
        } else {
            if width != image.width { pixels = horizontal(pixels, image.height) }
            if height != image.height { pixels = vertical(pixels, width) }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// One 8-bit pass along an axis: for each of `lines` lines (starting `inStep`/`outStep` apart),
    /// output sample i (at `i·outStride`) = clip8(Σ_j k_i[j] · input[(start_i + j)·inStride]).
    private static func pass(_ input: [UInt8], lines: Int, inStride: Int, inStep: Int, outCount: Int, outStride: Int, outStep: Int,
                             coefficients k: [(Int, [Int32])]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: lines * outCount * 3)
        let half = Int32(1) << Int32(precisionBits - 1)
        for line in 0..<lines {
            for (i, (start, weights)) in k.enumerated() {
                for c in 0..<3 {
                    var s = half
                    for (j, w) in weights.enumerated() { s &+= Int32(input[line * inStep + (start + j) * inStride + c]) &* w }
                    out[line * outStep + i * outStride + c] = UInt8(max(0, min(255, s >> Int32(precisionBits))))
                }
            }
        }
        return out
    }

    /// `image` resampled to `width` x `height` in floating point (no intermediate rounding):
    /// RGB floats in 0…255, interleaved.
    public static func resizeFloat(_ image: RGBImage, width outW: Int, height outH: Int) -> [Float] {
        let horizontal = coefficients(input: image.width, output: outW, precision: .float).map { ($0.start, $0.weights.map(Float.init)) }
        let vertical = coefficients(input: image.height, output: outH, precision: .float).map { ($0.start, $0.weights.map(Float.init)) }
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
}
