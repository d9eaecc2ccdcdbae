import Foundation
import TestSupport
import Testing
@testable import Train

struct TensorBoardTests {
    @Test func crc32cKnownValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    /// Records read back with their checksums and decode as the events written.
    @Test func eventFileReadsBack() throws {
        let dir = TestPaths.temporaryDirectory("tb")
        let writer = try TensorBoardWriter(directory: dir)
        try writer.scalars([("train/loss", 2.5), ("train/lr", 0.001)], step: 7)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: writer.path)))
        var offset = 0, events: [Tensorboard_Event] = []
        func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].enumerated().reduce(0) { $0 | UInt32($1.1) << (8 * $1.0) } }
        while offset < bytes.count {
            let lengthBytes = Array(bytes[offset..<offset + 8])
            let length = lengthBytes.enumerated().reduce(0) { $0 | Int($1.1) << (8 * $1.0) }
            #expect(u32(offset + 8) == CRC32C.masked(lengthBytes))
            let payload = Array(bytes[(offset + 12)..<(offset + 12 + length)])
            #expect(u32(offset + 12 + length) == CRC32C.masked(payload))
            events.append(try Tensorboard_Event(serializedBytes: payload))
            offset += 16 + length
        }
        #expect(events.count == 2 && events[0].fileVersion == "brain.Event:2")
        #expect(events[1].step == 7 && events[1].summary.value.map(\.tag) == ["train/loss", "train/lr"])
        #expect(events[1].summary.value[0].simpleValue == 2.5)
    }
}
