import Foundation

/// Creating where output goes, with errors a user can act on: the path, and why it cannot be
/// created or written (a file in the way, a folder without write permission, a read-only file
/// system) in words, never a raw `NSError`.
public enum OutputPath {
    /// Creates the folder `path` and its parents (nothing when it exists).
    public static func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw FileError("\(path): cannot create this folder (\(reason(creating: path, error)))")
        }
    }

    /// Throws unless a file can be written at `path` (its folder exists and takes files, and
    /// `path` is not a folder): checked before long work whose result goes there.
    public static func checkWritable(_ path: String) throws {
        var isFolder: ObjCBool = false
        let folder = (path as NSString).deletingLastPathComponent
        let exists = FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder, isDirectory: &isFolder)
        let target = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
        guard exists, !target, access(folder.isEmpty ? "." : folder, W_OK) == 0 else {
            throw FileError("\(path): cannot write (\(target ? "it is a folder" : reason(creating: path)))")
        }
    }

    /// Why `path` cannot be created or written, from its nearest existing ancestor: a file in
    /// the way, a folder without write permission, a read-only file system; else the system's
    /// words for `error` (or for `errno` when there is no error).
    public static func reason(creating path: String, _ error: Error? = nil) -> String {
        let code = errno
        var ancestor = (URL(fileURLWithPath: path).standardizedFileURL.path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        while !ancestor.isEmpty && ancestor != "/" && !FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory) {
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        if FileManager.default.fileExists(atPath: ancestor, isDirectory: &isDirectory) {
            if !isDirectory.boolValue { return "'\(ancestor)' is a file, not a folder" }
            if access(ancestor, W_OK) != 0 {
                return errno == EROFS ? "'\(ancestor)' is on a read-only file system" : "no permission to write in '\(ancestor)'"
            }
        }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue { return "it is a folder" }
        return error.map(reason) ?? String(cString: strerror(code))
    }

    /// The system's words for `error`: the POSIX reason under a Foundation error, when there is one.
    public static func reason(_ error: Error) -> String {
        let e = error as NSError
        if let posix = e.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        if e.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(e.code))) }
        return e.localizedDescription
    }
}
