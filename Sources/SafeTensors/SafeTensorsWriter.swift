import Foundation
import Support

/// Writes Float32 tensors as a safetensors file, atomically: the bytes go to a
/// temporary file beside `path`, which is then renamed over it, so a reader (or a
/// crash) never sees a half-written file.
public enum SafeTensorsWriter {
    /// A tensor to write: its name, shape and `shape.product` contiguous floats.
    public struct Entry {
        public let name: String
        public let shape: [Int]
        public let data: UnsafeBufferPointer<Float>

        public init(name: String, shape: [Int], data: UnsafeBufferPointer<Float>) {
            precondition(shape.reduce(1, *) == data.count, "\(name): shape \(shape) does not match \(data.count) floats")
            self.name = name
            self.shape = shape
            self.data = data
        }
    }

    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to path: String) throws {
        var header = "{"
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            header += "\"__metadata__\":{\(fields.joined(separator: ","))}"
        }
        var offset = 0
        for (i, e) in entries.enumerated() {
            if i > 0 || !metadata.isEmpty { header += "," }
            let end = offset + 4 * e.data.count
            header += "\(jsonString(e.name)):{\"dtype\":\"F32\",\"shape\":[\(e.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }

        try AtomicFile.write(to: path) { temporary in
            guard FileManager.default.createFile(atPath: temporary, contents: nil),
                  let handle = FileHandle(forWritingAtPath: temporary)
            else { throw SafeTensorsError(.writeFailed, file: path, "cannot create \(temporary) (\(OutputPath.reason(creating: temporary)))") }
            do {
                var length = UInt64(headerBytes.count).littleEndian
                try handle.write(contentsOf: Data(bytes: &length, count: 8))
                try handle.write(contentsOf: Data(headerBytes))
                for e in entries where e.data.count > 0 {
                    // x86_64 and arm64 are little-endian, as the format requires.
                    try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: e.data.baseAddress!),
                                                      count: 4 * e.data.count, deallocator: .none))
                }
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw SafeTensorsError(.writeFailed, file: path, "write failed: \(error.localizedDescription)")
            }
        }
    }

    private static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
