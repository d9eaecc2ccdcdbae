import Foundation

/// Reads multiple-choice suites:
/// - an MMLU-layout directory: `DIR/dev/{subject}_dev.csv` (few-shot examples) and
///   `DIR/{split}/{subject}_{split}.csv` (scored; `{subject}.csv` also works, as CMMLU names them);
/// - a CSV file (one subject, named after the file);
/// - a JSONL file: `{"question", "choices": [2…10], "answer": index or letter, "subject"?, "delimiter"?}`,
///   multimodal with `"image"` (relative to the file's folder), `"language"` and `"category"` (the subject).
/// CSV rows are `question,A,B,C,D,answer` with no header (MMLU) or after a header row
/// `,Question,A,B,C,D,Answer` whose first column is an index (CMMLU).
public enum SuiteLoader {
    public static func load(_ path: String, split: String = "test") throws -> MultipleChoiceSuite {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EvalError("\(path): suite not found")
        }
        let name = (path as NSString).lastPathComponent
        if isDirectory.boolValue { return try loadDirectory(path, split: split) }
        let subject = ((name as NSString).deletingPathExtension as NSString).lastPathComponent
        let items = path.hasSuffix(".jsonl") ? try loadJSONL(path, defaultSubject: subject) : try loadCSV(path, subject: subject)
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
                throw EvalError("\(path):\(line): answer '\(letter)' is not one of A, B, C, D")
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
            guard let choices = o["choices"] as? [String], (2...10).contains(choices.count) else {
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
            if let relative = o["image"] {
                guard let r = relative as? String, !r.isEmpty else { throw EvalError("\(at): 'image' must be a path") }
                image = r.hasPrefix("/") ? r : ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(r)
            }
            let subject = (o["subject"] as? String) ?? (o["category"] as? String) ?? defaultSubject
            items.append(MultipleChoiceItem(question: question, choices: choices, answer: answer, subject: subject,
                                            delimiter: (o["delimiter"] as? String) ?? " ", source: at, image: image, language: o["language"] as? String))
        }
        return items
    }

    static let letters = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"]

    static func answerIndex(_ s: String, choices: Int) -> Int? {
        letters.prefix(choices).firstIndex(of: s.uppercased())
    }
}
