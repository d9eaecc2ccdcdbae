import Support
import Data
import Foundation

/// Reads multiple-choice suites:
/// - an MMLU-layout directory: `DIR/dev/{subject}_dev.csv` (few-shot examples) and
///   `DIR/{split}/{subject}_{split}.csv` (scored; `{subject}.csv` also works, as CMMLU names them);
/// - a CSV file (one subject, named after the file);
/// - a JSONL file: `{"question", "choices": [2…10], "answer": index or letter, "subject"?, "delimiter"?}`,
///   multimodal with `"image"` (relative to the file's folder), `"language"` and `"category"` (the subject);
///   MMMB's names `"options"` and `"image_path"` are accepted too;
/// - an MMMB-style TSV file: a header row naming `question`, the options (`A`, `B`, … columns, or
///   `options` as a JSON list), `answer` (a letter), and optionally `language`, `category` and
///   `image_path` (relative to the file's folder); other columns (`index`, …) are ignored.
/// CSV rows are `question,A,B,C,D,answer` with no header (MMLU) or after a header row
/// `,Question,A,B,C,D,Answer` whose first column is an index (CMMLU).
public enum SuiteLoader {
    /// The longest question or choice accepted, in UTF-8 bytes (64 KiB: far beyond any context;
    /// a longer one is a broken file, and tokenizing it would take gigabytes).
    public static let maxFieldBytes = 1 << 16

    public static func load(_ path: String, split: String = "test") throws -> MultipleChoiceSuite {
        let suite = try read(path, split: split)
        for item in suite.subjects.flatMap(\.items) + suite.examples.values.flatMap({ $0 }) {
            for (what, text) in [("question", item.question)] + item.choices.map({ ("a choice", $0) }) where text.utf8.count > maxFieldBytes {
                throw EvalError("\(item.source): \(what) of \(text.utf8.count) bytes is longer than the limit of \(maxFieldBytes) (a broken line?)")
            }
        }
        return suite
    }

    static func read(_ path: String, split: String) throws -> MultipleChoiceSuite {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EvalError("\(path): suite not found")
        }
        let name = (path as NSString).lastPathComponent
        if isDirectory.boolValue { return try loadDirectory(path, split: split) }
        let subject = ((name as NSString).deletingPathExtension as NSString).lastPathComponent
        let items = path.hasSuffix(".jsonl") ? try loadJSONL(path, defaultSubject: subject)
            : path.hasSuffix(".tsv") ? try loadTSV(path, defaultSubject: subject) : try loadCSV(path, subject: subject)
        guard !items.isEmpty else { throw EvalError("\(path): no questions") }
        let grouped = Dictionary(grouping: items, by: \.subject)
        return MultipleChoiceSuite(name: name, subjects: grouped.keys.sorted().map { ($0, grouped[$0]!) }, examples: [:])
    }

    static func loadDirectory(_ dir: String, split: String) throws -> MultipleChoiceSuite {
        let scored = dir + "/" + split
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: scored) else {
            let available = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.sorted().joined(separator: ", ") ?? ""
            throw EvalError("\(dir): no '\(split)' split (folders: \(available)); choose one with --split")
        }
        var subjects: [(String, [MultipleChoiceItem])] = [], examples: [String: [MultipleChoiceItem]] = [:]
        for file in files.filter({ $0.hasSuffix(".csv") }).sorted() {
            let stem = String(file.dropLast(4))
            let subject = stem.hasSuffix("_" + split) ? String(stem.dropLast(split.count + 1)) : stem
            let items = try loadCSV(scored + "/" + file, subject: subject)
            guard !items.isEmpty else { throw EvalError("\(scored)/\(file): no questions") }
            subjects.append((subject, items))
            for dev in ["\(dir)/dev/\(subject)_dev.csv", "\(dir)/dev/\(subject).csv"] where FileManager.default.fileExists(atPath: dev) {
                examples[subject] = try loadCSV(dev, subject: subject)
                break
            }
        }
        guard !subjects.isEmpty else { throw EvalError("\(scored): no .csv files") }
        return MultipleChoiceSuite(name: (dir as NSString).lastPathComponent, subjects: subjects.map { (name: $0.0, items: $0.1) },
                                   examples: examples)
    }

    static func loadCSV(_ path: String, subject: String) throws -> [MultipleChoiceItem] {
        guard let data = FileManager.default.contents(atPath: path) else { throw EvalError("\(path): file not found") }
        guard let text = String(data: data, encoding: .utf8) else { throw EvalError("\(path): not UTF-8 text") }
        var records = try CSV.parse(text, file: path)
        var indexed = false
        if let first = records.first, first.fields.count >= 2, first.fields[1].lowercased() == "question" {
            indexed = first.fields[0].isEmpty || first.fields[0].lowercased() == "id"
            records.removeFirst()
        }
        return try records.map { line, raw in
            let fields = indexed ? Array(raw.dropFirst()) : raw
            guard fields.count == 6 else {
                throw EvalError("\(path):\(line): expected 6 columns (question, A, B, C, D, answer)\(indexed ? " after the index column" : ""), found \(fields.count)")
            }
            let letter = fields[5].trimmingCharacters(in: .whitespaces)
            guard let answer = answerIndex(letter, choices: 4) else {
                throw EvalError("\(path):\(line): answer \(excerpt(letter, limit: 20)) is not one of A, B, C, D")
            }
            return MultipleChoiceItem(question: fields[0], choices: Array(fields[1...4]), answer: answer, subject: subject, source: "\(path):\(line)")
        }
    }

    static func loadJSONL(_ path: String, defaultSubject: String) throws -> [MultipleChoiceItem] {
        guard let data = FileManager.default.contents(atPath: path) else { throw EvalError("\(path): file not found") }
        var items: [MultipleChoiceItem] = []
        for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            let at = "\(path):\(i + 1)"
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { throw EvalError("\(at): not a JSON object") }
            guard let question = o["question"] as? String else { throw EvalError("\(at): missing string 'question'") }
            guard let choices = (o["choices"] ?? o["options"]) as? [String], (2...10).contains(choices.count) else {
                throw EvalError("\(at): 'choices' must be a list of 2 to 10 strings")
            }
            let answer: Int?
            if let n = o["answer"] as? NSNumber, String(cString: n.objCType) != "c", let i = o["answer"] as? Int {
                answer = (0..<choices.count).contains(i) ? i : nil
            }
            else if let s = o["answer"] as? String { answer = answerIndex(s, choices: choices.count) }
            else { answer = nil }
            guard let answer else {
                throw EvalError("\(at): 'answer' must be an index 0..<\(choices.count) or a letter A..\(letters[choices.count - 1])")
            }
            var image: String?
            if let relative = o["image"] ?? o["image_path"] {
                guard let r = relative as? String, !r.isEmpty else { throw EvalError("\(at): 'image' must be a path") }
                let folder = ImageFolder((path as NSString).deletingLastPathComponent)
                guard let inside = folder.resolve(r, absoluteAllowed: true) else {
                    throw EvalError("\(at): image path '\(r)' escapes the suite's folder \(folder.root) (through .. or a symbolic link)")
                }
                image = inside
            }
            let subject = (o["subject"] as? String) ?? (o["category"] as? String) ?? defaultSubject
            items.append(MultipleChoiceItem(question: question, choices: choices, answer: answer, subject: subject,
                                            delimiter: (o["delimiter"] as? String) ?? " ", source: at, image: image, language: o["language"] as? String))
        }
        return items
    }

    /// MMMB-style TSV (see the type's comment). Every error names the file and line.
    static func loadTSV(_ path: String, defaultSubject: String) throws -> [MultipleChoiceItem] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw EvalError("\(path): not a UTF-8 text file")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        guard let header = lines.first?.split(separator: "\t", omittingEmptySubsequences: false).map({ $0.lowercased() }) else {
            throw EvalError("\(path): empty file")
        }
        func column(_ name: String) -> Int? { header.firstIndex(of: name) }
        guard let q = column("question"), let a = column("answer") else {
            throw EvalError("\(path):1: the header must name 'question' and 'answer' columns (got \(excerpt(header.joined(separator: ", "))))")
        }
        let letterColumns = letters.map { column($0.lowercased()) }.prefix { $0 != nil }.compactMap { $0 }
        let options = column("options")
        guard letterColumns.count >= 2 || options != nil else { throw EvalError("\(path):1: no option columns (A, B, … or options)") }
        if column("image") != nil && column("image_path") == nil {
            throw EvalError("\(path):1: images embedded as base64 ('image') are not read; give each item's file in an 'image_path' column")
        }
        var items: [MultipleChoiceItem] = []
        for (i, line) in lines.enumerated().dropFirst() where !line.allSatisfy({ $0 == " " }) {
            let at = "\(path):\(i + 1)", f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == header.count else { throw EvalError("\(at): \(f.count) fields, the header has \(header.count)") }
            var choices: [String]
            if let o = options {
                guard let list = try? JSONSerialization.jsonObject(with: Data(f[o].utf8)) as? [String] else {
                    throw EvalError("\(at): 'options' must be a JSON list of strings")
                }
                choices = list
            } else {
                choices = letterColumns.map { f[$0] }
                while let last = choices.last, last.isEmpty { choices.removeLast() }  // fewer options than columns
            }
            guard (2...10).contains(choices.count) else { throw EvalError("\(at): \(choices.count) options, expected 2 to 10") }
            guard let answer = answerIndex(f[a].trimmingCharacters(in: .whitespaces), choices: choices.count) else {
                throw EvalError("\(at): 'answer' \(excerpt(f[a], limit: 20)) is not a letter A..\(letters[choices.count - 1])")
            }
            var image: String?
            if let r = column("image_path").map({ f[$0] }), !r.isEmpty {
                let folder = ImageFolder((path as NSString).deletingLastPathComponent)
                guard let inside = folder.resolve(r, absoluteAllowed: true) else {
                    throw EvalError("\(at): image path '\(r)' escapes the suite's folder \(folder.root) (through .. or a symbolic link)")
                }
                image = inside
            }
            let category = column("category").map { f[$0] }.flatMap { $0.isEmpty ? nil : $0 }
            items.append(MultipleChoiceItem(question: f[q], choices: choices, answer: answer, subject: category ?? defaultSubject,
                                            source: at, image: image, language: column("language").map { f[$0] }))
        }
        return items
    }

    static let letters = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"]

    static func answerIndex(_ s: String, choices: Int) -> Int? {
        letters.prefix(choices).firstIndex(of: s.uppercased())
    }
}
