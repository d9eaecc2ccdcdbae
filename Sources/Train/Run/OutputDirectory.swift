import Foundation
import Support

/// One run per output directory (as Hugging Face's `overwrite_output_dir`): a lock file
/// `OUTPUT/.lock` holds the live run's process id and host; a second run into the directory
/// is refused at once while that process lives, and a lock whose process has died (a
/// `kill -9`) is detected as stale and taken over. A directory that holds an earlier run
/// (`latest`, `metrics.jsonl`, checkpoints) is continued only with `--resume` and replaced only
/// with `overwrite_output_dir: true` / `--overwrite`, which removes that run's files (and only
/// those) first. Stale `checkpoints/.tmp-*` folders of killed saves are removed at the start.
public final class OutputDirectory {
    public static let lockFile = ".lock"
    /// What a run writes into its output directory (all of it is removed by an overwrite).
    public static let runEntries = ["checkpoints", "latest", "metrics.jsonl", "runs", "eval", "run_summary.json",
                                    "forgetting.json", "forgetting.md", "forgetting.svg", "continual.json", "continual.md",
                                    "continual.svg", "router.md", "router.svg", "cil"]

    public let path: String
    private let lockPath: String
    /// Whether this process holds the lock (set once taken: a refused claim must not remove another run's lock).
    private var held = false

    /// Claims `path` for this process: creates it, refuses a live lock or an earlier run (unless
    /// `resume` or `overwrite`), takes over a stale lock, and cleans interrupted saves. `log` hears
    /// what was taken over or removed.
    public init(_ path: String, resume: Bool, overwrite: Bool, log: (String) -> Void) throws {
        self.path = path
        lockPath = path + "/" + Self.lockFile
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw TrainError("output_dir '\(path)': cannot create it (\(OutputPath.reason(creating: path, error)))")
        }
        try Self.takeLock(lockPath, outputDir: path, log: log)
        held = true
        do {
            let earlier = Self.runEntries.filter { fm.fileExists(atPath: path + "/" + $0) }
            if !earlier.isEmpty && !resume {
                guard overwrite else {
                    throw TrainError("output_dir '\(path)' holds an earlier run (\(earlier.prefix(3).joined(separator: ", "))): pass --resume to continue it, or --overwrite (overwrite_output_dir: true) to replace it")
                }
                for entry in earlier { try fm.removeItem(atPath: path + "/" + entry) }
                log("overwrite: removed the earlier run in \(path) (\(earlier.joined(separator: ", ")))")
            }
            let checkpoints = path + "/checkpoints"
            for name in (try? fm.contentsOfDirectory(atPath: checkpoints)) ?? [] where name.hasPrefix(".tmp-") || name.hasPrefix(".old-") {
                try fm.removeItem(atPath: checkpoints + "/" + name)
                log("removed \(checkpoints)/\(name), left by an interrupted save")
            }
        } catch {
            release()
            throw error
        }
    }

    deinit { release() }

    /// Removes the lock (idempotent).
    public func release() {
        guard held else { return }
        held = false
        unlink(lockPath)
    }

    /// The lock's contents: "pid host".
    static var owner: String { "\(getpid()) \(ProcessInfo.processInfo.hostName)\n" }

    /// Creates the lock exclusively; an existing one is refused while its process lives on this
    /// host, else (stale) replaced. A lock from another host is refused: its process cannot be
    /// checked from here (remove the file by hand once that run is gone).
    static func takeLock(_ lock: String, outputDir: String, log: (String) -> Void) throws {
        for _ in 0..<3 {
            let fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if fd >= 0 {
                let bytes = Array(owner.utf8)
                _ = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                return
            }
            guard errno == EEXIST else {
                throw TrainError("output_dir '\(outputDir)': cannot write its lock file \(lockFile) (\(String(cString: strerror(errno))))")
            }
            let text = (try? String(contentsOfFile: lock, encoding: .utf8)) ?? ""
            let parts = text.split(whereSeparator: \.isWhitespace)
            let pid = parts.first.flatMap { Int32($0) }, host = parts.count > 1 ? String(parts[1]) : nil
            if let pid, host == nil || host == ProcessInfo.processInfo.hostName {
                if pid == getpid() || kill(pid, 0) == 0 || errno == EPERM {
                    throw TrainError("output_dir '\(outputDir)' is in use by another run (process \(pid), lock \(lock)): wait for it to finish, or stop it; two runs in one directory would overwrite each other's checkpoints and logs")
                }
                log("output_dir '\(outputDir)': the lock of process \(pid) is stale (that process is gone): taking it over")
            } else if let pid, let host {
                throw TrainError("output_dir '\(outputDir)' is locked by process \(pid) on host \(host) (\(lock)); if that run is gone, remove the file")
            } else {
                log("output_dir '\(outputDir)': unreadable lock file \(lock): replacing it")
            }
            unlink(lock)
        }
        throw TrainError("output_dir '\(outputDir)': could not take its lock \(lock) (another process keeps taking it)")
    }
}
