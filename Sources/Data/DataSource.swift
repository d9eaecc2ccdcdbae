import Foundation
import Tokenizer
import Support

/// One data file of a stage, as a recipe names it.
public struct DataSource: Codable, Sendable, Equatable {
    public enum Format: String, Codable, Sendable, CaseIterable {
        /// One JSON object per line with a text field.
        case jsonl
        /// Plain text; documents separated by `separator`.
        case text
        /// LLaVA conversation JSON: a list of `{"id", "conversations": [{"from", "value"}]}`.
        case llava
        /// An image-classification folder (`path/{split}/{class}/*.png`, torchvision's ImageFolder):
        /// each image of `classes` becomes a question (`question`) and its answer (`answer` with
        /// `{name}` the class's display name): the instruct samples of class-incremental learning.
        case imageFolder = "image_folder"
    }

    public var path: String
    /// Inferred from the extension when absent (.jsonl, .txt, .json).
    public var format: Format?
    /// Mixing weight: samples drawn per epoch relative to the source's size (1 = each once).
    public var weight: Double?
    /// The text field of a JSONL object.
    public var textField: String?
    /// The document separator of a plain-text file.
    public var separator: String?
    /// The folder LLaVA JSON image paths are relative to (default: the JSON file's folder).
    public var imageFolder: String?
    /// image_folder: the split (default `train`), the class folders to read (default: all), at
    /// most this many images of each (default: all, in file order), the question and the answer
    /// (`{name}`: the class's display name) and a names file (one display name per class folder).
    public var split: String?
    public var classes: [String]?
    public var perClass: Int?
    public var question: String?
    public var answer: String?
    public var classNames: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case path, format, weight, textField = "text_field", separator, imageFolder = "image_folder"
        case split, classes, perClass = "per_class", question, answer, classNames = "class_names"
    }

    /// What an image-classification source asks and answers by default.
    public static let defaultQuestion = "What is this?", defaultAnswer = "This is a photo of a {name}."

    public init(path: String, format: Format? = nil, weight: Double? = nil) {
        self.path = path
        self.format = format
        self.weight = weight
    }

    public var resolvedFormat: Format {
        if let format { return format }
        if path.hasSuffix(".jsonl") { return .jsonl }
        if path.hasSuffix(".json") { return .llava }
        return .text
    }
}

/// A document read from a source: free text or a conversation (with an image path, resolved
/// and checked to lie inside the image folder).
public enum Document: Sendable, Equatable {
    case text(String)
    case conversation(id: String, turns: [Turn], image: String?)
}

/// Reads sources into documents. A malformed line or sample is an error naming the file and
/// line (or sample), unless `skipBad` is set; then it is skipped and counted.
public struct SourceReader {
    public var skipBad: Bool
    public private(set) var skipped = 0

    public init(skipBad: Bool) { self.skipBad = skipBad }

    /// Reads `source` from `path`. Conversations with images are kept only when `allowImages`.
    public mutating func read(_ source: DataSource, path: String, allowImages: Bool = false) throws -> [Document] {
        if source.resolvedFormat == .imageFolder { return try readImageFolder(source, path: path, allowImages: allowImages) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError("\(path): data file not found")
        }
        switch source.resolvedFormat {
        case .jsonl: return try readJSONL(data, path: path, field: source.textField ?? "text")
        case .text:
            let separator = source.separator ?? "<|endoftext|>"
            let text = String(decoding: data, as: UTF8.self)
            return text.components(separatedBy: separator)
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                .filter { !$0.isEmpty }
                .map { .text($0) }
        case .llava:
            let folder = source.imageFolder ?? (path as NSString).deletingLastPathComponent
            return try readLLaVA(data, path: path, imageFolder: allowImages ? folder : nil)
        case .imageFolder:
            preconditionFailure("read above")
        }
    }

    /// An image-classification folder as question-and-answer conversations, one per image.
    private func readImageFolder(_ source: DataSource, path: String, allowImages: Bool) throws -> [Document] {
        guard allowImages else { throw DataError("\(path): an image_folder source needs a multimodal stage (kind instruct, align or vision)") }
        let folder = try ImageClassFolder(root: path, split: source.split ?? "train", namesFile: source.classNames)
        let split = source.split ?? "train", question = source.question ?? DataSource.defaultQuestion
        let answer = source.answer ?? DataSource.defaultAnswer
        var docs: [Document] = []
        for name in source.classes ?? folder.classes {
            guard let display = folder.displayName(name) else {
                throw DataError("\(path): no class folder '\(excerpt(name))' in \(split)/ (classes: \(folder.classes.joined(separator: ", ")))")
            }
            for image in try folder.images(split: split, class: name).prefix(source.perClass ?? .max) {
                docs.append(.conversation(id: name + "/" + (image as NSString).lastPathComponent,
                                          turns: [Turn(.human, SpecialTokens.image + "\n" + question),
                                                  Turn(.gpt, answer.replacingOccurrences(of: "{name}", with: display))],
                                          image: image))
            }
        }
        return docs
    }

    private mutating func bad(_ message: String) throws {
        if skipBad { skipped += 1 } else { throw DataError(message) }
    }

    private mutating func readJSONL(_ data: Data, path: String, field: String) throws -> [Document] {
        var docs: [Document] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                try bad("\(path):\(lineNumber): not a JSON object")
                continue
            }
            guard let text = object[field] as? String else {
                try bad("\(path):\(lineNumber): no string field '\(field)'")
                continue
            }
            docs.append(.text(text))
        }
        return docs
    }

    private mutating func readLLaVA(_ data: Data, path: String, imageFolder: String?) throws -> [Document] {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw DataError("\(path): not valid JSON (\((error as NSError).userInfo["NSDebugDescription"] ?? error.localizedDescription))")
        }
        guard let list = json as? [[String: Any]] else { throw DataError("\(path): expected a JSON list of conversation objects") }
        var docs: [Document] = []
        for (i, object) in list.enumerated() {
            let id = (object["id"] as? String) ?? (object["id"].map { "\($0)" } ?? "#\(i)")
            let name = "\(path): sample \(i) (id \(excerpt(id, limit: 40)))"
            var image: String?
            if let value = object["image"] {
                guard let folder = imageFolder else {
                    try bad("\(name): has an image, but this stage trains on text only")
                    continue
                }
                guard let relative = value as? String, !relative.isEmpty else {
                    try bad("\(name): 'image' must be a path")
                    continue
                }
                let images = ImageFolder(folder)
                guard let resolved = images.resolve(relative) else {
                    try bad("\(name): image path '\(relative)' escapes the image folder \(images.root) (through .. or a symbolic link)")
                    continue
                }
                image = resolved
            }
            guard let turns = object["conversations"] as? [[String: Any]], !turns.isEmpty else {
                try bad("\(name): missing 'conversations'")
                continue
            }
            var parsed: [Turn] = []
            var ok = true
            for (j, t) in turns.enumerated() {
                guard let from = t["from"] as? String, let value = t["value"] as? String,
                      let role = Turn.Role(rawValue: from == "user" ? "human" : (from == "assistant" ? "gpt" : from))
                else {
                    try bad("\(name): turn \(j) needs 'from' (human, gpt or system) and a string 'value'")
                    ok = false
                    break
                }
                parsed.append(Turn(role, value))
            }
            if ok { docs.append(.conversation(id: id, turns: parsed, image: image)) }
        }
        return docs
    }
}
