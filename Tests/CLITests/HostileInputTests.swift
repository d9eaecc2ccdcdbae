import Foundation
import Testing
import TestSupport

/// The committed corpus of hostile inputs (`Tests/Fixtures/hostile/cases.json`), each run through
/// the `mllm-cl` binary as a user would run it: sizes that would allocate without bound, bad
/// values, paths that escape their folder, outputs that cannot be written, damaged files. Each
/// must end with exit 1...127 and one-line messages, the last an error, naming the file and the
/// field (the case's `expect` strings), under a 2 GiB address-space limit (`ulimit -v`): an
/// allocation the checks missed fails there and the case with it. A case with `exit` must exit
/// with exactly that code (0: it succeeds in bounded memory).
@Suite struct HostileInputTests {
    struct Case: Decodable, CustomTestStringConvertible, Sendable {
        struct Bytes: Decodable, Sendable { let offset: Int; let hex: String }
        struct Repeat: Decodable, Sendable { let text: String; let times: Int; let before: String?; let then: String? }
        let name: String
        let `class`: String
        let copy: [String: String]?
        let files: [String: String]?
        let write: [String: String]?
        let json: [String: JSONValue]?
        let bytes: [String: Bytes]?
        let symlink: [String: String]?
        let `repeat`: [String: Repeat]?
        let setup: [[String]]?
        let after_setup: [String: String]?
        let env: [String: String]?
        let args: [String]
        let exit: Int32?
        let expect: [String]
        var testDescription: String { "\(self.class): \(name)" }
    }

    /// A JSON value, for merging keys into a copied file.
    enum JSONValue: Decodable, Sendable {
        case null, value(Double), text(String), flag(Bool), object([String: JSONValue])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .flag(b) }
            else if let d = try? c.decode(Double.self) { self = .value(d) }
            else if let s = try? c.decode(String.self) { self = .text(s) }
            else { self = .object(try c.decode([String: JSONValue].self)) }
        }
        /// `self` merged into `base` (JSON merge patch: null removes a key).
        func merged(into base: Any?) -> Any? {
            switch self {
            case .null: return nil
            case .value(let d): return d == d.rounded() && abs(d) < 1e15 ? Int(d) as Any : d
            case .text(let s): return s
            case .flag(let b): return b
            case .object(let patch):
                var object = base as? [String: Any] ?? [:]
                for (k, v) in patch { object[k] = v.merged(into: object[k]) }
                return object
            }
        }
    }

    static let corpus = TestPaths.fixture("hostile")
    static let cases: [Case] = {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: corpus + "/cases.json"))
            struct File: Decodable { let cases: [Case] }
            return try JSONDecoder().decode(File.self, from: data).cases
        } catch {
            Issue.record("\(corpus)/cases.json: \(error)")
            return []
        }
    }()

    /// The `mllm-cl` built beside this test bundle (`swift test` builds every product).
    static let binary: String = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mllm-cl").path
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : TestPaths.root + "/.build/debug/mllm-cl"
    }()

    /// Address space of a case's process, in KiB (`ulimit -v`).
    static let addressSpaceKiB = 2 << 20

    @Test func theCorpusCoversEveryClass() {
        let classes = Set(Self.cases.map(\.class))
        #expect(classes == ["crash", "loss", "containment", "silent", "unclear", "parser"], "\(classes)")
        #expect(Self.cases.count >= 50 && Set(Self.cases.map(\.name)).count == Self.cases.count)
    }

    @Test(arguments: cases) func hostileInput(_ c: Case) throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "\(Self.binary) is missing: run swift build first")
        let work = try prepare(c)
        defer { try? FileManager.default.removeItem(atPath: work) }
        for step in c.setup ?? [] {
            let r = try run(step, in: work, env: [:])
            try #require(r.status == 0, "setup \(step) failed: \(r.stderr)")
        }
        for (path, text) in c.after_setup ?? [:] { try text.write(toFile: work + "/" + path, atomically: true, encoding: .utf8) }
        let r = try run(c.args, in: work, env: c.env ?? [:], limitKiB: Self.addressSpaceKiB)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast(r.stderr.hasSuffix("\n") ? 1 : 0)
        if let status = c.exit {
            #expect(r.status == status, "exit \(r.status), expected \(status): \(r.stderr)")
        } else {
            #expect((1...127).contains(r.status), "exit \(r.status) (a crash or a signal?): \(r.stderr)")
            #expect(lines.last?.hasPrefix("error: ") == true, "the last line of stderr is not the error: \(r.stderr)")
        }
        let dumps = ["Fatal error", "Error Domain=", "DecodingError", "Stack dump", "Current stack trace", "std::bad_alloc", "terminate called"]
        for line in lines where !line.isEmpty {
            #expect(!dumps.contains { line.contains($0) } && (r.status == 0 || !line.first!.isWhitespace), "not a one-line message: \(line)")
        }
        for s in c.expect { #expect(r.stderr.contains(s), "'\(s)' missing from: \(r.stderr)") }
    }

    /// A new folder holding the case's inputs.
    func prepare(_ c: Case) throws -> String {
        let fm = FileManager.default, work = TestPaths.temporaryDirectory("hostile-\(c.name)")
        func place(_ path: String) throws -> String {
            let target = work + "/" + path
            try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            return target
        }
        for (to, from) in c.copy ?? [:] { try fm.copyItem(atPath: TestPaths.fixture(from), toPath: try place(to)) }
        for (to, from) in c.files ?? [:] {
            let target = try place(to)
            try? fm.removeItem(atPath: target)
            try fm.copyItem(atPath: Self.corpus + "/files/" + from, toPath: target)
        }
        for (path, patch) in c.json ?? [:] {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/" + path)))
            try JSONSerialization.data(withJSONObject: patch.merged(into: object)!).write(to: URL(fileURLWithPath: work + "/" + path))
        }
        for (path, edit) in c.bytes ?? [:] {
            var data = try Data(contentsOf: URL(fileURLWithPath: work + "/" + path))
            let bytes = stride(from: 0, to: edit.hex.count, by: 2).map { i in
                UInt8(edit.hex.dropFirst(i).prefix(2), radix: 16)!
            }
            let at = edit.offset >= 0 ? edit.offset : data.count + edit.offset
            data.replaceSubrange(at..<(at + bytes.count), with: bytes)
            try data.write(to: URL(fileURLWithPath: work + "/" + path))
        }
        for (path, target) in c.symlink ?? [:] { try fm.createSymbolicLink(atPath: try place(path), withDestinationPath: target) }
        for (path, text) in c.write ?? [:] { try text.write(toFile: try place(path), atomically: false, encoding: .utf8) }
        for (path, r) in c.repeat ?? [:] {
            try ((r.before ?? "") + String(repeating: r.text, count: r.times) + (r.then ?? "")).write(toFile: try place(path), atomically: false, encoding: .utf8)
        }
        return work
    }

    /// Runs the binary with `args` in `folder`; with `limitKiB`, under that address-space limit.
    func run(_ args: [String], in folder: String, env: [String: String], limitKiB: Int? = nil) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", (limitKiB.map { "ulimit -v \($0); " } ?? "") + "exec \"$0\" \"$@\"", Self.binary] + args
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let errors = Pipe()
        p.standardError = errors
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
