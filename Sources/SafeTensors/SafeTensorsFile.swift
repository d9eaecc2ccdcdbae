import Foundation

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range within the data section (after the 8-byte length and the header).
    public let dataRange: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file, opened read-only and validated before any tensor is read.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`),
/// then the raw little-endian data. Every header field is checked against the file
/// (size, dtype, offsets, overlaps) before anything is allocated from it.
public final class SafeTensorsFile: @unchecked Sendable {
    /// The largest header accepted (the reference implementation's limit).
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// Tensors in file order (by data offset).
    public let tensors: [TensorInfo]
    public let metadata: [String: String]
    private let index: [String: Int]
    private let data: Data
    private let dataStart: Int

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw SafeTensorsError(.fileNotFound, file: path, "file not found")
        }
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw SafeTensorsError(.fileNotFound, file: path, "cannot read: \(error.localizedDescription)")
        }
        guard data.count >= 8 else {
            throw SafeTensorsError(.truncated, file: path, "truncated: \(data.count) bytes, the 8-byte header length is missing")
        }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw SafeTensorsError(.headerTooLarge, file: path, "header length \(headerLength) exceeds the \(Self.maxHeaderBytes)-byte limit")
        }
        guard Int(headerLength) <= data.count - 8 else {
            throw SafeTensorsError(.truncated, file: path, "truncated: header claims \(headerLength) bytes but only \(data.count - 8) follow")
        }
        dataStart = 8 + Int(headerLength)
        let (tensors, metadata) = try Self.parseHeader(data.subdata(in: 8..<dataStart), path: path, dataSize: data.count - dataStart)
        self.tensors = tensors
        self.metadata = metadata
        index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    /// The header entry for `name`; throws `missingTensor` when absent.
    public func info(_ name: String) throws -> TensorInfo {
        guard let i = index[name] else {
            throw SafeTensorsError(.missingTensor, file: path, tensor: name, "not in file")
        }
        return tensors[i]
    }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// Converts tensor `name` to Float32 into `destination`, whose count must equal the
    /// tensor's element count. With `shape`, the stored shape must match it exactly.
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>, shape: [Int]? = nil) throws {
        let t = try info(name)
        if let shape, shape != t.shape {
            throw SafeTensorsError(.shapeMismatch, file: path, tensor: name, "shape \(t.shape) in file, expected \(shape)")
        }
        guard t.elementCount == destination.count else {
            throw SafeTensorsError(.shapeMismatch, file: path, tensor: name, "\(t.elementCount) elements in file, expected \(destination.count)")
        }
        guard t.dtype.isReadableAsFloat else {
            throw SafeTensorsError(.unsupportedDType, file: path, tensor: name, "dtype \(t.dtype.rawValue) cannot be read as floating point (F32, F16 or BF16 expected)")
        }
        let n = t.elementCount
        data.withUnsafeBytes { raw in
            let src = UnsafeRawBufferPointer(rebasing: raw[(dataStart + t.dataRange.lowerBound)..<(dataStart + t.dataRange.upperBound)])
            let out = destination.baseAddress!
            switch t.dtype {
            case .f32:
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case .f16:
                for i in 0..<n { out[i] = Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
            case .bf16:
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            default:
                preconditionFailure("checked above")
            }
        }
    }

    /// Tensor `name` as a new Float32 array.
    public func floats(_ name: String) throws -> [Float] {
        let t = try info(name)
        var out = [Float](repeating: 0, count: t.elementCount)
        try out.withUnsafeMutableBufferPointer { try read(name, into: $0) }
        return out
    }

    // MARK: - Header validation

    private static func parseHeader(_ bytes: Data, path: String, dataSize: Int) throws -> ([TensorInfo], [String: String]) {
        func invalid(_ why: String, _ tensor: String? = nil) -> SafeTensorsError {
            SafeTensorsError(.invalidHeader, file: path, tensor: tensor, "invalid header: \(why)")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: bytes)
        } catch {
            throw invalid("not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw invalid("the header is not a JSON object") }
        // JSON parsers keep the last of two equal keys: a tensor named twice would load silently.
        var seen = Set<String>()
        for key in Self.topLevelKeys(bytes) where !seen.insert(key).inserted {
            throw SafeTensorsError(.duplicateTensor, file: path, tensor: key, "named twice in the header")
        }

        var metadata: [String: String] = [:]
        var tensors: [TensorInfo] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw invalid("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw invalid("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any] else { throw invalid("entry is not an object", name) }
            guard let dtypeName = entry["dtype"] as? String else { throw invalid("missing 'dtype'", name) }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw SafeTensorsError(.unsupportedDType, file: path, tensor: name, "unknown dtype '\(dtypeName)'")
            }
            guard let shapeValues = entry["shape"] as? [Any] else { throw invalid("missing 'shape'", name) }
            var shape: [Int] = []
            var count = 1
            for v in shapeValues {
                guard let d = exactInt(v), d >= 0 else { throw invalid("shape \(shapeValues) is not a list of non-negative integers", name) }
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw invalid("shape \(shapeValues) overflows", name) }
                shape.append(d)
                count = product
            }
            guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = exactInt(offsets[0]), let end = exactInt(offsets[1]), begin >= 0, begin <= end
            else { throw invalid("'data_offsets' must be [begin, end] with 0 <= begin <= end", name) }
            let (bytesNeeded, overflow) = count.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, bytesNeeded == end - begin else {
                throw SafeTensorsError(.sizeMismatch, file: path, tensor: name,
                                       "shape \(shape) of \(dtype.rawValue) needs \(overflow ? "too many" : String(bytesNeeded)) bytes but data_offsets span \(end - begin)")
            }
            tensors.append(TensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end))
        }
        tensors.sort { ($0.dataRange.lowerBound, $0.dataRange.upperBound, $0.name) < ($1.dataRange.lowerBound, $1.dataRange.upperBound, $1.name) }
        // In file order, so a truncated file names the first tensor it cuts.
        for t in tensors where t.dataRange.upperBound > dataSize {
            throw SafeTensorsError(.offsetsOutOfBounds, file: path, tensor: t.name,
                                   "data_offsets [\(t.dataRange.lowerBound), \(t.dataRange.upperBound)] exceed the \(dataSize)-byte data section (truncated file?)")
        }
        for (a, b) in zip(tensors, tensors.dropFirst()) where b.dataRange.lowerBound < a.dataRange.upperBound {
            throw SafeTensorsError(.overlappingOffsets, file: path, tensor: b.name,
                                   "data_offsets [\(b.dataRange.lowerBound), \(b.dataRange.upperBound)] overlap tensor '\(a.name)' [\(a.dataRange.lowerBound), \(a.dataRange.upperBound)]")
        }
        return (tensors, metadata)
    }

    /// An integer JSON number (JSONSerialization yields NSNumber; reject fractions and booleans,
    /// whose NSNumber type code is "c").
    private static func exactInt(_ value: Any) -> Int? {
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
        return value as? Int
    }
}

extension SafeTensorsFile {
    /// The keys of a JSON object's top level, in order, as written (escapes kept), duplicates
    /// included: a byte scan that skips strings and nested values.
    static func topLevelKeys(_ json: Data) -> [String] {
        var keys: [String] = [], depth = 0, expectingKey = false, i = 0
        let bytes = [UInt8](json)
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                var j = i + 1
                while j < bytes.count && bytes[j] != UInt8(ascii: "\"") { j += bytes[j] == UInt8(ascii: "\\") ? 2 : 1 }
                if depth == 1 && expectingKey {
                    keys.append(String(decoding: bytes[(i + 1)..<min(j, bytes.count)], as: UTF8.self))
                    expectingKey = false
                }
                i = j + 1
                continue
            }
            switch b {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                expectingKey = depth == 1 && b == UInt8(ascii: "{")
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: ","): if depth == 1 { expectingKey = true }
            default: break
            }
            i += 1
        }
        return keys
    }
}
