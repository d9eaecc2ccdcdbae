import Foundation
@testable import SafeTensors
import TestSupport
import Testing

struct SafeTensorsTests {
    let dir = TestPaths.temporaryDirectory("safetensors")

    /// Writes a file: 8-byte length (or `claimedLength`), the header text, then `data`.
    func file(_ name: String, header: String, data: [UInt8] = [], claimedLength: UInt64? = nil) -> String {
        let path = dir + "/" + name
        var bytes = [UInt8]()
        var length = (claimedLength ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header.utf8)
        bytes.append(contentsOf: data)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func floats(_ values: [Float]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } } }

    /// Opening (and reading `tensor`) fails with `kind`, naming the file and, where given, the tensor.
    func expectError(_ kind: SafeTensorsError.Kind, _ path: String, tensor: String? = nil, read: String? = nil) {
        do {
            let f = try SafeTensorsFile(path: path)
            if let read { _ = try f.floats(read) }
            Issue.record("expected \(kind) for \(path)")
        } catch let e as SafeTensorsError {
            #expect(e.kind == kind, "\(e)")
            #expect(e.description.contains(path))
            if let tensor { #expect(e.tensor == tensor && e.description.contains("'\(tensor)'"), "\(e)") }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func roundTripWithMetadata() throws {
        let a: [Float] = [1, -2, 3.5, 4, 5, 6], b: [Float] = [0.25]
        let path = dir + "/rt.safetensors"
        try a.withUnsafeBufferPointer { a in
            try b.withUnsafeBufferPointer { b in
                try SafeTensorsWriter.write([.init(name: "layer.w", shape: [2, 3], data: a), .init(name: "s", shape: [1], data: b)],
                                            metadata: ["format": "pt", "note": "quote \" here"], to: path)
            }
        }
        let f = try SafeTensorsFile(path: path)
        #expect(try f.floats("layer.w") == a)
        #expect(try f.info("layer.w").shape == [2, 3])
        #expect(try f.floats("s") == b)
        #expect(f.metadata == ["format": "pt", "note": "quote \" here"])
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = raw.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect((8 + headerLength) % 8 == 0, "data section is 8-byte aligned")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp") }.isEmpty, "no temporary left")
    }

    @Test func readsF16AndBF16() throws {
        let h: [Float16] = [1.5, -2, 0.0999755859375]
        let f16 = h.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let bf: [Float] = [3.25, -0.5]
        let bf16 = bf.flatMap { v in withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { Array($0) } }
        let header = #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]}}"#
        let f = try SafeTensorsFile(path: file("half.safetensors", header: header, data: f16 + bf16))
        #expect(try f.floats("h") == h.map(Float.init))
        #expect(try f.floats("b") == bf)
    }

    @Test func truncatedLength() {
        let path = dir + "/tiny.safetensors"
        FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))
        expectError(.truncated, path)
    }

    @Test func truncatedHeader() {
        expectError(.truncated, file("cut.safetensors", header: #"{"a":{"dtype""#, claimedLength: 400))
    }

    @Test func truncatedData() {
        let header = #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        expectError(.offsetsOutOfBounds, file("short.safetensors", header: header, data: floats([1, 2])), tensor: "w")
    }

    /// A tensor named twice (JSON parsers keep the last) is an error naming it; keys inside
    /// entries and strings holding braces or escaped quotes do not confuse the scan.
    @Test func duplicateTensorName() {
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"note":"a \"}{\" b"},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        expectError(.duplicateTensor, file("dup.safetensors", header: header, data: floats([1, 2])), tensor: "w")
        #expect(SafeTensorsFile.topLevelKeys(Data(header.utf8)) == ["w", "__metadata__", "w"])
    }

    @Test func oversizedHeader() {
        expectError(.headerTooLarge, file("huge.safetensors", header: "{}", claimedLength: 1 << 40))
    }

    @Test func invalidJSON() {
        expectError(.invalidHeader, file("json.safetensors", header: "{not json}"))
    }

    @Test func overlappingOffsets() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        expectError(.overlappingOffsets, file("overlap.safetensors", header: header, data: floats([1, 2, 3])), tensor: "b")
    }

    @Test func sizeDisagreesWithShape() {
        let header = #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        expectError(.sizeMismatch, file("size.safetensors", header: header, data: floats([1, 2])), tensor: "w")
    }

    @Test func unknownDType() {
        let header = #"{"w":{"dtype":"F8_E9","shape":[2],"data_offsets":[0,2]}}"#
        expectError(.unsupportedDType, file("dtype.safetensors", header: header, data: [0, 0]), tensor: "w")
    }

    @Test func integerTensorIsNotReadAsFloat() {
        let header = #"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#
        expectError(.unsupportedDType, file("int.safetensors", header: header, data: [1, 0, 0, 0, 0, 0, 0, 0]), tensor: "ids", read: "ids")
    }

    @Test func missingTensor() {
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        expectError(.missingTensor, file("missing.safetensors", header: header, data: floats([1])), tensor: "v", read: "v")
    }

    @Test func shapeMismatchOnRead() throws {
        let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let f = try SafeTensorsFile(path: file("shape.safetensors", header: header, data: floats([1, 2])))
        var out = [Float](repeating: 0, count: 2)
        #expect(throws: SafeTensorsError.self) {
            try out.withUnsafeMutableBufferPointer { try f.read("w", into: $0, shape: [1, 2]) }
        }
    }

    @Test func missingFile() {
        expectError(.fileNotFound, dir + "/nope.safetensors")
    }
}
