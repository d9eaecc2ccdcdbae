import Foundation

/// Turns an RGB image into the (3, H, W) normalised pixels a vision tower takes:
///
///   pad to a square (LLaVA's `expand2square`, optional) → resize (bicubic) → centre crop
///   (optional) → x·rescale → (x − mean)/std, per channel.
///
/// Built from a checkpoint's `preprocessor_config.json` (``init(config:padToSquare:file:)``:
/// CLIPImageProcessor's resize-shortest-edge and crop, SiglipImageProcessor's fixed size; the
/// resize equals Pillow's to the pixel), or, for this project's checkpoints without one,
/// ``legacy(size:mean:std:)``: pad, resize to S x S in floating point, normalise.
public struct ImagePreprocessor: Sendable, Equatable {
    public enum Resize: Sendable, Equatable {
        /// The shorter side to `n`, the longer scaled to keep the aspect (truncated, as transformers).
        case shortestEdge(Int)
        case exact(height: Int, width: Int)
    }

    /// Whether to pad to a square first (LLaVA's `image_aspect_ratio: pad`).
    public var padToSquare: Bool
    public var resize: Resize?
    public var crop: (height: Int, width: Int)? {
        get { cropHeight.map { ($0, cropWidth!) } }
        set { cropHeight = newValue?.height; cropWidth = newValue?.width }
    }
    private var cropHeight: Int?, cropWidth: Int?
    public var precision: BicubicResize.Precision
    /// The processor's statistics (the padding colour is the mean's, even when it does not normalise).
    public var mean: [Float]
    public var std: [Float]
    /// Per channel: out = x·scale − shift, x the 0…255 value.
    private var scale: [Float], shift: [Float]
    /// Size of the output.
    public let height: Int, width: Int

    /// The preprocessing of `config` (`file` names it in errors), padded to a square first when
    /// `padToSquare`.
    public init(config: ImageProcessorConfig, padToSquare: Bool = false, file: String) throws {
        let size = try config.outputSize(file: file)
        self.padToSquare = padToSquare
        if config.doResize, let s = config.size {
            resize = s.shortestEdge.map { .shortestEdge($0) } ?? .exact(height: s.height!, width: s.width!)
        }
        if config.doCenterCrop, let c = config.cropSize { cropHeight = c.height; cropWidth = c.width }
        precision = .pillow
        mean = config.imageMean
        std = config.imageStd
        let rescale = config.doRescale ? config.rescaleFactor : 1, normalize = config.doNormalize
        scale = (0..<3).map { normalize ? rescale / config.imageStd[$0] : rescale }
        shift = (0..<3).map { normalize ? config.imageMean[$0] / config.imageStd[$0] : 0 }
        (height, width) = size
    }

    /// This project's preprocessing for checkpoints without a `preprocessor_config.json`: pad to
    /// a square with the mean colour, bicubic resize to `size` x `size` without intermediate
    /// rounding, x/255, normalise.
    public static func legacy(size: Int, mean: [Float], std: [Float], padToSquare: Bool = true) -> ImagePreprocessor {
        ImagePreprocessor(size: size, mean: mean, std: std, padToSquare: padToSquare)
    }

    private init(size: Int, mean: [Float], std: [Float], padToSquare: Bool) {
        self.padToSquare = padToSquare
        resize = .exact(height: size, width: size)
        precision = .float
        self.mean = mean
        self.std = std
        scale = (0..<3).map { 1 / (255 * std[$0]) }
        shift = (0..<3).map { mean[$0] / std[$0] }
        height = size
        width = size
    }

    /// CLIP's statistics (OpenAI), legacy pipeline.
    public static func clip(size: Int) -> ImagePreprocessor {
        .legacy(size: size, mean: ImageProcessorConfig.clipMean, std: ImageProcessorConfig.clipStd)
    }

    public static func == (a: ImagePreprocessor, b: ImagePreprocessor) -> Bool {
        a.padToSquare == b.padToSquare && a.resize == b.resize && a.cropHeight == b.cropHeight && a.cropWidth == b.cropWidth
            && a.precision == b.precision && a.scale == b.scale && a.shift == b.shift && a.height == b.height && a.width == b.width
    }

    /// The mean colour in 0…255 (LLaVA: `tuple(int(x * 255) for x in image_mean)`).
    public var padColor: [UInt8] { mean.map { UInt8(max(0, min(255, Int($0 * 255)))) } }

    /// Values per processed image (3·H·W).
    public var count: Int { 3 * height * width }

    /// Writes the (3, H, W) normalised pixels of `image` into `out`.
    public func process(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        let square = padToSquare ? pad(image) : image
        let plane = height * width
        if precision == .float, case .exact(let h, let w)? = resize {
            let resized = BicubicResize.resizeFloat(square, width: w, height: h)
            for c in 0..<3 { for p in 0..<plane { out[c * plane + p] = resized[p * 3 + c] * scale[c] - shift[c] } }
            return
        }
        let processed = cropped(resized(square))
        for c in 0..<3 { for p in 0..<plane { out[c * plane + p] = Float(processed.pixels[p * 3 + c]) * scale[c] - shift[c] } }
    }

    public func process(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { process(image, into: $0.baseAddress!) }
        return out
    }

    /// The 8-bit image after padding, resizing and cropping (what is then normalised).
    public func pixels(_ image: RGBImage) -> RGBImage { cropped(resized(padToSquare ? pad(image) : image)) }

    /// Resized as transformers' `resize` does (through PIL, bicubic).
    func resized(_ image: RGBImage) -> RGBImage {
        guard let resize else { return image }
        let (h, w) = Self.resizedSize(image, resize)
        return BicubicResize.resize(image, width: w, height: h)
    }

    /// transformers' `get_resize_output_image_size(default_to_square=False)`: short side to n,
    /// long side int(n · long / short).
    static func resizedSize(_ image: RGBImage, _ resize: Resize) -> (height: Int, width: Int) {
        switch resize {
        case .exact(let h, let w): return (h, w)
        case .shortestEdge(let n):
            let short = min(image.width, image.height), long = max(image.width, image.height)
            let scaled = Int(Double(n * long) / Double(short))
            return image.width <= image.height ? (scaled, n) : (n, scaled)
        }
    }

    /// The centre `crop`, as transformers' `center_crop`: top = (H − h) // 2, left = (W − w) // 2;
    /// an image smaller than the crop is first centred on zeros (padding ⌈(h − H)/2⌉ above and
    /// ⌈(w − W)/2⌉ to the left).
    func cropped(_ image: RGBImage) -> RGBImage {
        guard let (h, w) = crop, h != image.height || w != image.width else { return image }
        let padTop = max(0, (h - image.height + 1) / 2), padLeft = max(0, (w - image.width + 1) / 2)
        let top = Int((Double(image.height - h) / 2).rounded(.down)) + padTop
        let left = Int((Double(image.width - w) / 2).rounded(.down)) + padLeft
        var pixels = [UInt8](repeating: 0, count: h * w * 3)
        for y in 0..<h {
            let sy = top + y - padTop
            guard (0..<image.height).contains(sy) else { continue }
            for x in 0..<w {
                let sx = left + x - padLeft
                guard (0..<image.width).contains(sx) else { continue }
                for c in 0..<3 { pixels[(y * w + x) * 3 + c] = image.pixels[(sy * image.width + sx) * 3 + c] }
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
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
}
