import Foundation
import Fuzzing
import Testing
import TestSupport

/// Replays each fuzz target's committed corpus (`Tests/Fixtures/fuzz/<target>/`, written by
/// `scripts/fuzz/make_seeds.py`, plus the regression inputs the fuzzers found): no input may
/// crash or be refused without a one-line message naming its file; `seed-*` inputs must be
/// accepted (so the target reaches its parser's success path) and `bad-*` ones refused.
@Suite struct CorpusReplayTests {
    @Test(arguments: FuzzTarget.allCases)
    func corpus(_ target: FuzzTarget) throws {
        let folder = TestPaths.fixture("fuzz/" + target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files.contains { $0.hasPrefix("seed-") }, "\(folder): no seed inputs")
        let scratch = TestPaths.temporaryDirectory("fuzz-\(target.rawValue)")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        for file in files {
            let input = try #require(FileManager.default.contents(atPath: folder + "/" + file))
            let outcome: FuzzTarget.Outcome
            do {
                outcome = try target.run(input, scratch: scratch)
            } catch {
                Issue.record("\(file): \(error)")
                continue
            }
            if file.hasPrefix("seed-") { #expect(outcome == .accepted, "\(file): \(outcome)") }
            if file.hasPrefix("bad-") { #expect(outcome != .accepted, "\(file) was accepted") }
        }
    }

    /// A refusal the harness accepts is one line naming the file (what every finding is checked against).
    @Test func refusalNamesTheFile() throws {
        let scratch = TestPaths.temporaryDirectory("fuzz-finding")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let refused = try FuzzTarget.image.run(Data("GIF89a".utf8), scratch: scratch)
        guard case .refused(let message) = refused else { Issue.record("a GIF was accepted"); return }
        #expect(message.contains("input.img") && !message.contains("\n"))
    }
}
