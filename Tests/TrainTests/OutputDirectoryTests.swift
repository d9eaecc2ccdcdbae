import Data
import Foundation
import TestSupport
import Testing
import Train

/// One run per output directory: a live lock refuses a second run at once, a dead process's lock
/// is taken over, an earlier run is continued only with --resume and replaced only with
/// --overwrite (removing that run's files and nothing else), interrupted saves are cleaned.
struct OutputDirectoryTests {
    let dir = TestPaths.temporaryDirectory("outdir")

    init() throws {
        try ToyWorld(seed: 5, entities: 6).write(to: dir + "/data", variants: 2)
    }

    func recipe(_ out: String, _ extra: [String] = []) throws -> Recipe {
        try RecipeLoader.decode(TinyRecipe.yaml(directory: dir, pretrainSteps: 2, chatSteps: 1, saveSteps: 2), file: "tiny.yaml",
                                overrides: ["output_dir=\(dir)/\(out)"] + extra)
    }

    func run(_ r: Recipe, resume: Bool = false, overwrite: Bool = false, log: @escaping (String) -> Void = { _ in }) throws -> TrainSummary {
        var o = TrainOptions()
        o.resume = resume
        o.overwrite = overwrite
        o.log = log
        return try Trainer(recipe: r, options: o).run()
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func aSecondRunIsRefusedWhileTheFirstHoldsTheLock() throws {
        let out = dir + "/live"
        let first = try OutputDirectory(out, resume: false, overwrite: false, log: { _ in })
        let m = message { _ = try run(recipe("live")) }
        #expect(m.contains("output_dir '\(out)' is in use by another run (process \(getpid())"), "\(m)")
        #expect(FileManager.default.fileExists(atPath: out + "/" + OutputDirectory.lockFile), "the refused run leaves the holder's lock")
        first.release()
        #expect(try run(recipe("live")).losses.count == 3, "the directory is free once the first run ends")
        #expect(!FileManager.default.fileExists(atPath: out + "/" + OutputDirectory.lockFile), "a finished run leaves no lock")
    }

    /// A process killed with -9 leaves its lock: the next run finds its process gone and takes it over.
    @Test func aDeadProcessesLockIsStale() throws {
        let out = dir + "/stale"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        try "\(child.processIdentifier) \(ProcessInfo.processInfo.hostName)\n".write(toFile: out + "/.lock", atomically: true, encoding: .utf8)
        var lines: [String] = []
        #expect(try run(recipe("stale"), log: { lines.append($0) }).losses.count == 3)
        #expect(lines.contains { $0.contains("the lock of process \(child.processIdentifier) is stale") }, "\(lines)")
    }

    @Test func anEarlierRunNeedsResumeOrOverwrite() throws {
        let out = dir + "/again"
        _ = try run(recipe("again"))
        try "keep me".write(toFile: out + "/notes.txt", atomically: true, encoding: .utf8)
        let m = message { _ = try run(recipe("again")) }
        #expect(m.contains("output_dir '\(out)' holds an earlier run") && m.contains("--resume") && m.contains("--overwrite"), "\(m)")
        #expect(try run(recipe("again"), resume: true).losses.isEmpty, "resume of a finished run trains nothing more")
        try FileManager.default.createDirectory(atPath: out + "/checkpoints/.tmp-chat-step1-999", withIntermediateDirectories: true)
        var lines: [String] = []
        let replaced = try run(recipe("again", ["overwrite_output_dir=true"]), log: { lines.append($0) })
        #expect(replaced.losses.count == 3 && lines.contains { $0.contains("overwrite: removed the earlier run") })
        #expect(try String(contentsOfFile: out + "/notes.txt", encoding: .utf8) == "keep me", "files the run did not write are kept")
        #expect(try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == 3)
        // An interrupted save's folder is removed at the next start.
        try FileManager.default.createDirectory(atPath: out + "/checkpoints/.tmp-chat-step1-999", withIntermediateDirectories: true)
        _ = try run(recipe("again"), overwrite: true)
        #expect(!FileManager.default.fileExists(atPath: out + "/checkpoints/.tmp-chat-step1-999"))
    }

    /// A recipe edited after its run started does not resume silently into another model.
    @Test func resumeRefusesAChangedArchitecture() throws {
        _ = try run(recipe("changed"))
        var m = "no error"
        do { _ = try run(recipe("changed", ["model.architecture.intermediate_size=48"]), resume: true) } catch { m = "\(error)" }
        #expect(m.contains("--resume: the recipe's model.architecture.intermediate_size is 48 but") && m.contains("has 64"), "\(m)")
    }

    /// An output_dir that cannot be created says why, naming output_dir (not a raw NSError).
    @Test func anUncreatableOutputDirSaysWhy() throws {
        try "x".write(toFile: dir + "/afile", atomically: true, encoding: .utf8)
        let m = message { _ = try OutputDirectory(dir + "/afile/out", resume: false, overwrite: false, log: { _ in }) }
        #expect(m == "output_dir '\(dir)/afile/out': cannot create it ('\(dir)/afile' is a file, not a folder)", "\(m)")
    }
}

