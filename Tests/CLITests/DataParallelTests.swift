import Foundation
import Testing
import TestSupport

/// Open MPI's launcher, where setup installed it.
let mpirunPath: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// `mpirun -np 2 mllm-cl train` against one process at the same global batch: the samples of a
/// step are those one process draws, the loss is the global batch's mean and the gradients are
/// summed, so every step's loss agrees to float rounding (sgemm over 4 sequences twice, not 8
/// once) — with gradient accumulation, and through a continual stage with replay and EWC.
@Suite(.enabled(if: mpirunPath != nil, "mpirun absent (Debian's openmpi-bin): skipping the data-parallel tests"))
struct DataParallelTests {
    static let mpirun = mpirunPath
    let dir = TestPaths.temporaryDirectory("mpi")

    /// A tiny decoder trained on the toy world: `stages` of 15 steps each (the second with replay and EWC).
    func recipe(accumulation: Int, continual: Bool) -> String {
        var yaml = """
            model:
              architecture: {model_type: llama, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
                             intermediate_size: 64, vocab_size: 521, max_position_embeddings: 64}
            tokenizer: \(TestPaths.root)/tokenizers/toyworld.model
            output_dir: \(dir)/out
            seed: 3
            stages:
              - name: first
                data: [{path: \(dir)/data/corpus.jsonl}]
                per_device_train_batch_size: 8
                gradient_accumulation_steps: \(accumulation)
                model_max_length: 32
                max_steps: \(continual ? 15 : 30)
                learning_rate: 3.0e-3
                warmup_steps: 3
                save_steps: 10

            """
        if continual {
            yaml += """
                  - name: second
                    template: chatml
                    data: [{path: \(dir)/data/conversations.json}]
                    per_device_train_batch_size: 8
                    gradient_accumulation_steps: \(accumulation)
                    model_max_length: 48
                    max_steps: 15
                    learning_rate: 1.0e-3
                    replay: {ratio: 0.25, buffer_size: 100, data: [{path: \(dir)/data/corpus.jsonl}]}
                    ewc: {lambda: 100.0, batches: 4}

                """
        }
        return yaml
    }

    /// Runs `mllm-cl args` (under mpirun with `ranks`); returns the exit status and standard error.
    @discardableResult
    func run(_ args: [String], ranks: Int? = nil) throws -> (status: Int32, stderr: String) {
        let p = Process()
        if let ranks {
            p.executableURL = URL(fileURLWithPath: Self.mpirun!)
            p.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", String(ranks), HostileInputTests.binary] + args
        } else {
            p.executableURL = URL(fileURLWithPath: HostileInputTests.binary)
            p.arguments = args
        }
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The step losses of `output`'s metrics.jsonl, in order.
    func losses(_ output: String) throws -> [Double] {
        try String(contentsOfFile: dir + "/" + output + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double
        }
    }

    func prepare() throws {
        try #require(run(["data", "toy-world", "--out", dir + "/data"]).status == 0)
    }

    @Test(arguments: [(1, false), (2, false), (2, true)])
    func twoRanksOfFourEqualOneProcessOfEight(accumulation: Int, continual: Bool) throws {
        try prepare()
        try recipe(accumulation: accumulation, continual: continual).write(toFile: dir + "/recipe.yaml", atomically: true, encoding: .utf8)
        let one = try run(["train", "recipe.yaml", "--set", "output_dir=one"])
        try #require(one.status == 0, "\(one.stderr)")
        var perRank = ["--set", "stages.0.per_device_train_batch_size=4"]
        if continual { perRank += ["--set", "stages.1.per_device_train_batch_size=4"] }
        let two = try run(["train", "recipe.yaml", "--set", "output_dir=two"] + perRank, ranks: 2)
        try #require(two.status == 0, "\(two.stderr)")
        let a = try losses("one"), b = try losses("two")
        #expect(a.count == 30 && b.count == 30, "\(a.count) and \(b.count) steps")
        let worst = zip(a, b).map { abs($0 - $1) / abs($0) }.max() ?? .infinity
        print("DataParallelTests: accumulation \(accumulation), continual \(continual): worst relative loss difference \(worst) over \(a.count) steps")
        #expect(worst <= 1e-5, "\(a) vs \(b)")
        // Rank 0 alone wrote: one metrics file, checkpoints as one process writes them.
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: dir + "/two/checkpoints").sorted()
        #expect(checkpoints == (try FileManager.default.contentsOfDirectory(atPath: dir + "/one/checkpoints").sorted()))
    }

    /// A checkpoint written by two ranks resumes in one process, and one written by one process
    /// in two ranks: the resumed losses are those of the uninterrupted run.
    @Test func checkpointsResumeAcrossRankCounts() throws {
        try prepare()
        try recipe(accumulation: 1, continual: false).write(toFile: dir + "/recipe.yaml", atomically: true, encoding: .utf8)
        try #require(run(["train", "recipe.yaml", "--set", "output_dir=full"]).status == 0)
        let full = try losses("full"), perRank = ["--set", "stages.0.per_device_train_batch_size=4"]
        // Two ranks stop after step 20 (saved: step 20), one process finishes.
        try #require(run(["train", "recipe.yaml", "--set", "output_dir=mixed", "--stop-after-step", "20"] + perRank, ranks: 2).status == 0)
        let resumed = try run(["train", "recipe.yaml", "--resume", "--set", "output_dir=mixed"])
        try #require(resumed.status == 0, "\(resumed.stderr)")
        // One process stops after step 10, two ranks finish.
        try #require(run(["train", "recipe.yaml", "--set", "output_dir=back", "--stop-after-step", "10"]).status == 0)
        let back = try run(["train", "recipe.yaml", "--resume", "--set", "output_dir=back"] + perRank, ranks: 2)
        try #require(back.status == 0, "\(back.stderr)")
        for name in ["mixed", "back"] {
            let l = try losses(name)
            #expect(l.count == full.count)
            let worst = zip(full, l).map { abs($0 - $1) / abs($0) }.max() ?? .infinity
            print("DataParallelTests: resumed across rank counts (\(name)): worst relative loss difference \(worst)")
            #expect(worst <= 1e-5, "\(name): \(l) vs \(full)")
        }
    }

    /// `kill -9` of one rank mid-run: the job exits non-zero at once, `latest` names a complete
    /// checkpoint, and resuming it in one process or in two ranks continues the loss curve.
    @Test func aKilledRankEndsTheJobAndTheRunResumes() throws {
        try prepare()
        let yaml = recipe(accumulation: 1, continual: false).replacingOccurrences(of: "max_steps: 30", with: "max_steps: 200")
        try yaml.write(toFile: dir + "/recipe.yaml", atomically: true, encoding: .utf8)
        let perRank = ["--set", "stages.0.per_device_train_batch_size=4"]
        try #require(run(["train", "recipe.yaml", "--set", "output_dir=full"]).status == 0)
        let full = try losses("full")

        let job = Process()
        job.executableURL = URL(fileURLWithPath: Self.mpirun!)
        job.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "2", HostileInputTests.binary,
                         "train", "recipe.yaml", "--set", "output_dir=killed"] + perRank
        job.currentDirectoryURL = URL(fileURLWithPath: dir)
        job.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        job.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try job.run()
        // Wait for a checkpoint past step 50, then kill one rank (a child of mpirun) with SIGKILL.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && savedStep("killed") < 50 { Thread.sleep(forTimeInterval: 0.05) }
        let ranks = try children(of: job.processIdentifier)
        try #require(ranks.count == 2 && job.isRunning, "ranks \(ranks), running \(job.isRunning)")
        kill(ranks.last!, SIGKILL)
        let killed = Date()
        job.waitUntilExit()
        // mpirun ends the other rank too: wait until both are gone (not merely mpirun)
        while Date().timeIntervalSince(killed) < 60 && ranks.contains(where: { FileManager.default.fileExists(atPath: "/proc/\($0)") }) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(job.terminationStatus != 0, "the job must fail when a rank dies")
        print("DataParallelTests: mpirun exited \(job.terminationStatus); every rank gone \(Date().timeIntervalSince(killed)) s after the kill")
        #expect(Date().timeIntervalSince(killed) < 30, "the job ended \(Date().timeIntervalSince(killed)) s after the kill")
        let latest = try String(contentsOfFile: dir + "/killed/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let loads = try run(["generate", "--model", "killed/" + latest, "--prompt", "Rubok", "--max-new-tokens", "2"])
        #expect(loads.status == 0, "latest is complete: \(loads.stderr)")
        #expect(!(latest.contains(".tmp")))
        // Resume one copy in one process, another in two ranks.
        try FileManager.default.copyItem(atPath: dir + "/killed", toPath: dir + "/killed2")
        try FileManager.default.removeItem(atPath: dir + "/killed2/.lock")
        let one = try run(["train", "recipe.yaml", "--resume", "--set", "output_dir=killed"])
        let two = try run(["train", "recipe.yaml", "--resume", "--set", "output_dir=killed2"] + perRank, ranks: 2)
        #expect(one.status == 0 && two.status == 0, "\(one.stderr) \(two.stderr)")
        for name in ["killed", "killed2"] {
            let l = try losses(name)
            let worst = zip(full, l).map { abs($0 - $1) / abs($0) }.max() ?? .infinity
            print("DataParallelTests: killed at \(latest), resumed (\(name)): \(l.count) steps, worst relative loss difference \(worst)")
            #expect(l.count == full.count && worst <= 1e-5)
        }
    }

    /// The step of the checkpoint `output`/latest names (checkpoints/first-step<N>), 0 before one.
    func savedStep(_ output: String) -> Int {
        guard let text = try? String(contentsOfFile: dir + "/" + output + "/latest", encoding: .utf8),
              let digits = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "p").last else { return 0 }
        return Int(digits) ?? 0
    }

    /// The processes whose parent is `pid` (from /proc).
    func children(of pid: Int32) throws -> [Int32] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { Int32($0) }.filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }.sorted()
    }

    /// A rank that fails ends the whole job at once with an error, not a hang.
    @Test func oneRanksErrorEndsTheJob() throws {
        try prepare()
        try recipe(accumulation: 1, continual: false).write(toFile: dir + "/recipe.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/locked", withIntermediateDirectories: true)
        try "1\n".write(toFile: dir + "/locked/.lock", atomically: true, encoding: .utf8)  // process 1 is alive: rank 0 refuses
        let start = Date()
        let r = try run(["train", "recipe.yaml", "--set", "output_dir=locked"], ranks: 2)
        #expect(r.status != 0 && r.stderr.contains("in use by another run"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(start) < 30)
    }
}
