import Data
import Foundation
import TestSupport
import Testing

struct ImageTests {
    func image(_ name: String) -> String { TestPaths.fixture("images/" + name) }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func greyPNGBecomesRGB() throws {
        let img = try ImageDecoder.decode(path: image("grey.png"))
        #expect(img.width == 4 && img.height == 3)
        for y in 0..<3 {
            for x in 0..<4 {
                let v = UInt8(20 * x + 60 * y)
                #expect(img[x, y] == (v, v, v), "(\(x), \(y))")
            }
        }
    }

    /// Palette colours expand to RGB; the alpha from tRNS is dropped, not composited.
    @Test func paletteWithAlpha() throws {
        let img = try ImageDecoder.decode(path: image("palette_alpha.png"))
        let palette: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 128, 255), (10, 200, 30)]
        let indices = [[0, 1, 2], [2, 1, 0]]
        for y in 0..<2 { for x in 0..<3 { #expect(img[x, y] == palette[indices[y][x]]) } }
    }

    @Test func progressiveJPEGWithinTolerance() throws {
        let img = try ImageDecoder.decode(path: image("progressive.jpg"))
        #expect(img.width == 16 && img.height == 16)
        var total = 0, worst = 0
        for y in 0..<16 {
            for x in 0..<16 {
                let p = img[x, y]
                let d = [abs(Int(p.r) - 16 * x), abs(Int(p.g) - 16 * y), abs(Int(p.b) - 128)]
                total += d.reduce(0, +)
                worst = max(worst, d.max()!)
            }
        }
        #expect(Double(total) / (16 * 16 * 3) < 3 && worst < 16, "mean \(Double(total) / 768), worst \(worst)")
    }

    @Test func brokenFilesAreErrorsNamingTheFile() {
        for (name, expected) in [("truncated.png", "corrupt PNG"), ("corrupt.png", "corrupt PNG"),
                                 ("truncated.jpg", "corrupt or truncated JPEG"), ("not_an_image.png", "not a PNG or JPEG image")] {
            let path = image(name)
            let m = message { _ = try ImageDecoder.decode(path: path) }
            #expect(m.hasPrefix("\(path): \(expected)"), "\(m)")
        }
        #expect(message { _ = try ImageDecoder.decode(path: "/nope.png") } == "/nope.png: image not found")
    }

    @Test func absurdSizeIsRefusedBeforeAllocating() {
        // A PNG header claiming 100000 x 100000 pixels.
        var header: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
        header += [0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0, 8, 2, 0, 0, 0]
        let ihdr = Array(header[12...])
        var crc: UInt32 = 0xFFFF_FFFF
        for b in ihdr { crc ^= UInt32(b); for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 } }
        crc ^= 0xFFFF_FFFF
        header += [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
        let m = message { _ = try ImageDecoder.decode(Data(header), name: "huge.png") }
        #expect(m.contains("huge.png") && (m.contains("outside") || m.contains("corrupt PNG")), "\(m)")
    }

    /// LLaVA preprocessing: pad to a square with the mean colour, resize, normalise.
    @Test func preprocessingPadsResizesAndNormalises() {
        // A 4x2 white image: padded to 4x4 with (122, 116, 104) above and below, then resized to 4x4 (identity).
        let white = RGBImage(width: 4, height: 2, pixels: [UInt8](repeating: 255, count: 24))
        let p = ImagePreprocessor.clip(size: 4)
        #expect(p.padColor == [122, 116, 104])
        let out = p.process(white)
        let S = 4
        for c in 0..<3 {
            let whiteValue = (1 - p.mean[c]) / p.std[c], padValue = (Float(p.padColor[c]) / 255 - p.mean[c]) / p.std[c]
            #expect(abs(out[c * S * S + 0 * S + 1] - padValue) < 1e-4, "row 0 is padding")
            #expect(abs(out[c * S * S + 1 * S + 1] - whiteValue) < 1e-4, "row 1 is the image")
            #expect(abs(out[c * S * S + 3 * S + 2] - padValue) < 1e-4, "row 3 is padding")
        }
    }

    @Test func bicubicResizeKeepsConstantsAndAverages() {
        let grey = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 77, count: 192))
        #expect(BicubicResize.resizeFloat(grey, width: 3, height: 5).allSatisfy { abs($0 - 77) < 1e-3 })
        // Halving a 1-pixel checkerboard averages it (the antialiased kernel covers both).
        var checker = [UInt8](repeating: 0, count: 16 * 16 * 3)
        for y in 0..<16 { for x in 0..<16 where (x + y) % 2 == 0 { for c in 0..<3 { checker[(y * 16 + x) * 3 + c] = 200 } } }
        let half = BicubicResize.resizeFloat(RGBImage(width: 16, height: 16, pixels: checker), width: 8, height: 8)
        let inner = (2..<6).flatMap { y in (2..<6).map { x in half[(y * 8 + x) * 3] } }
        #expect(inner.allSatisfy { abs($0 - 100) < 2 }, "\(inner)")
    }
}
