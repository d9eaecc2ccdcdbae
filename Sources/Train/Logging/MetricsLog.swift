import Foundation
import Support

/// `metrics.jsonl`: one JSON object per optimizer step (`stage`, `step`, `global_step`,
/// `loss`, `lr`, `grad_norm`, `tokens_per_s`, `epoch`) and one per evaluation (`eval_loss`).
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle

    /// Opens `path` for appending. With `keepThrough`, first drops records past that global
    /// step (a resumed run rewrites the steps the interrupted one logged after its checkpoint).
    public init(path: String, keepThrough: Int?) throws {
        self.path = path
        let fm = FileManager.default
        if let keep = keepThrough, let data = fm.contents(atPath: path) {
            let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let step = object["global_step"] as? Int else { return false }
                return step <= keep
            }
            try Data(kept.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: path))
        } else if keepThrough == nil || !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else { throw TrainError("\(path): cannot create (\(OutputPath.reason(creating: path)))") }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw TrainError("\(path): cannot open for writing (\(OutputPath.reason(creating: path)))") }
        handle = h
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// Appends `record` as one JSON line (keys sorted).
    func write(_ record: some Encodable) throws {
        try handle.write(contentsOf: encoder.encode(record) + Data("\n".utf8))
    }
}
