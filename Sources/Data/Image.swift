import CPNG
import CTurboJPEG
import Foundation

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (R, G, B).
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// width · height · 3 bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "\(width)x\(height) RGB needs \(width * height * 3) bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }
}

/// Decodes PNG (libpng) and JPEG (TurboJPEG) files to RGB. Grey and palette images become
/// RGB; an alpha channel is dropped (as PIL's `convert("RGB")` does). A file that is not a
/// PNG or JPEG, is corrupt or truncated, or claims an absurd size is an error naming it.
public enum ImageDecoder {
    /// Largest accepted side and pixel count (checked before any pixel buffer is allocated).
    public static let maxSide = 16384
    public static let maxPixels = 64 << 20

    public static func decode(path: String) throws -> RGBImage {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataError("\(path): image not found") }
        guard !isDirectory.boolValue else { throw DataError("\(path): is a directory, not an image") }
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError("\(path): cannot read the image (permissions?)") }
        return try decode(data, name: path)
    }

    public static func decode(_ data: Data, name: String) throws -> RGBImage {
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return try png(bytes, name: name) }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try jpeg(bytes, name: name) }
        throw DataError("\(name): not a PNG or JPEG image")
    }

    static func checkSize(_ w: Int, _ h: Int, _ name: String) throws {
        guard w > 0, h > 0, w <= maxSide, h <= maxSide, w * h <= maxPixels else {
            throw DataError("\(name): image size \(w)x\(h) is outside 1...\(maxSide) per side")
        }
    }

    static func png(_ bytes: [UInt8], name: String) throws -> RGBImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        func failure(_ what: String) -> DataError {
            let message = withUnsafeBytes(of: image.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            png_image_free(&image)
            return DataError("\(name): corrupt PNG (\(what): \(message))")
        }
        guard bytes.withUnsafeBufferPointer({ png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }) != 0 else {
            throw failure("header")
        }
        let w = Int(image.width), h = Int(image.height)
        do { try checkSize(w, h, name) } catch { png_image_free(&image); throw error }
        // PNG_FORMAT_RGBA (a macro Swift does not import): grey and palette expand; alpha is dropped below.
        image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
        var rgba = [UInt8](repeating: 0, count: w * h * 4)
        let ok = bytes.withUnsafeBufferPointer { _ in
            rgba.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, Int32(w * 4), nil) }
        }
        guard ok != 0 else { throw failure("pixels") }
        png_image_free(&image)
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for p in 0..<(w * h) {
            rgb[3 * p] = rgba[4 * p]; rgb[3 * p + 1] = rgba[4 * p + 1]; rgb[3 * p + 2] = rgba[4 * p + 2]
        }
        return RGBImage(width: w, height: h, pixels: rgb)
    }

    static func jpeg(_ bytes: [UInt8], name: String) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw DataError("\(name): cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        func failure(_ what: String) -> DataError {
            DataError("\(name): corrupt or truncated JPEG (\(what): \(String(cString: tjGetErrorStr2(handle))))")
        }
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &w, &h, &subsampling, &colorspace)
        }
        guard header == 0 else { throw failure("header") }
        try checkSize(Int(w), Int(h), name)
        var rgb = [UInt8](repeating: 0, count: Int(w) * Int(h) * 3)
        let status = bytes.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer {
                tjDecompress2(handle, src.baseAddress, UInt(src.count), $0.baseAddress, w, 0, h, Int32(TJPF_RGB.rawValue), 0)
            }
        }
        // libjpeg reports a truncated stream as a warning and fills the rest with grey: refuse it.
        guard status == 0 else { throw failure("pixels") }
        return RGBImage(width: Int(w), height: Int(h), pixels: rgb)
    }
}

/// Writes 8-bit RGB PNGs through libpng's simplified API.
public enum ImageEncoder {
    public static func writePNG(_ image: RGBImage, to path: String) throws {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_FLAG_COLOR)  // PNG_FORMAT_RGB
        let ok = image.pixels.withUnsafeBytes { png_image_write_to_file(&png, path, 0, $0.baseAddress, Int32(image.width * 3), nil) }
        guard ok != 0 else {
            let message = withUnsafeBytes(of: png.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            png_image_free(&png)
            throw DataError("\(path): cannot write PNG (\(message))")
        }
    }
}
