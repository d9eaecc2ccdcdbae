import Foundation
import Support
import SwiftProtobuf

/// Writes TensorBoard event files (`events.out.tfevents.*`): TFRecord framing around
/// serialized `Event` protos, so `tensorboard --logdir DIR` shows the scalar curves.
///
/// Each record: length (UInt64 LE), masked CRC32C of the length, the bytes, masked CRC32C of the bytes.
public final class TensorBoardWriter {
    public let path: String
    private let handle: FileHandle

    public init(directory: String) throws {
        try OutputPath.createDirectory(directory)
        let host = ProcessInfo.processInfo.hostName
        path = directory + "/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw TrainError("\(path): cannot create the TensorBoard event file (\(OutputPath.reason(creating: path)))")
        }
        handle = h
        var event = Tensorboard_Event()
        event.wallTime = Date().timeIntervalSince1970
        event.fileVersion = "brain.Event:2"
        try write(event)
    }

    deinit { try? handle.close() }

    /// Adds scalar values (tag → value) at `step`.
    public func scalars(_ values: [(String, Float)], step: Int) throws {
        var event = Tensorboard_Event()
        event.wallTime = Date().timeIntervalSince1970
        event.step = Int64(step)
        var summary = Tensorboard_Summary()
        summary.value = values.map { tag, value in
            var v = Tensorboard_Summary.Value()
            v.tag = tag
            v.simpleValue = value
            return v
        }
        event.summary = summary
        try write(event)
    }

    private func write(_ event: Tensorboard_Event) throws {
        let data: [UInt8] = try event.serializedBytes()
        var record = [UInt8]()
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        record += length
        record += withUnsafeBytes(of: CRC32C.masked(length).littleEndian) { Array($0) }
        record += data
        record += withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { Array($0) }
        try handle.write(contentsOf: record)
    }
}

/// CRC-32C (Castagnoli), as TFRecord framing uses it.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// TFRecord's masking: rotate right by 15 and add a constant.
    static func masked(_ bytes: [UInt8]) -> UInt32 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}
