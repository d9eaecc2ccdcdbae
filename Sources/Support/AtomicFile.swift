import Foundation

/// Writes files so that a reader never sees half of one: into a temporary file beside the
/// destination, then renamed over it (`rename(2)` is atomic within a file system). A process
/// killed at any moment leaves either the old file or the new one.
public enum AtomicFile {
    /// The temporary name beside `path` this process writes to.
    public static func temporaryPath(for path: String) -> String {
        path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { temporary in
            do {
                try data.write(to: URL(fileURLWithPath: temporary))
            } catch {
                throw FileError("\(path): cannot write (\(OutputPath.reason(creating: path, error)))")
            }
        }
    }

    /// Calls `body` with a temporary path beside `path` to fill, then renames it into place.
    /// When `body` throws, the temporary file is removed and the error passed on.
    public static func write(to path: String, _ body: (_ temporary: String) throws -> Void) throws {
        let temporary = temporaryPath(for: path)
        do {
            try body(temporary)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let reason = OutputPath.reason(creating: path)
            try? FileManager.default.removeItem(atPath: temporary)
            throw FileError("\(path): cannot rename \(temporary) into place (\(reason))")
        }
    }
}
