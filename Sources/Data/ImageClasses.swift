import Foundation
import Support
import Tensor

/// An image-classification folder as torchvision's `ImageFolder` lays it out,
/// `root/{split}/{class}/*.png|jpg`: the classes are the folder names of the first split, sorted
/// (torchvision's `class_to_idx` order); a class's display name is its folder name with
/// underscores as spaces, or the matching line of a names file.
public struct ImageClassFolder: Sendable {
    public let root: String
    /// Folder names, sorted.
    public let classes: [String]
    /// Display names, by class.
    public let names: [String]
    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    /// `namesFile`: one display name per line, in the sorted folder order.
    public init(root: String, split: String = "train", namesFile: String? = nil) throws {
        self.root = root
        let fm = FileManager.default, splitPath = root + "/" + split
        var isFolder: ObjCBool = false
        guard fm.fileExists(atPath: splitPath, isDirectory: &isFolder), isFolder.boolValue else {
            throw DataError("\(root): no '\(split)' folder (an image-classification folder holds \(split)/<class>/<images>)")
        }
        classes = try fm.contentsOfDirectory(atPath: splitPath).filter {
            fm.fileExists(atPath: splitPath + "/" + $0, isDirectory: &isFolder) && isFolder.boolValue && !$0.hasPrefix(".")
        }.sorted()
        guard !classes.isEmpty else { throw DataError("\(splitPath): no class folders") }
        if let namesFile {
            guard let text = try? String(contentsOfFile: namesFile, encoding: .utf8) else { throw DataError("\(namesFile): class names file not found") }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
            guard lines.count == classes.count else {
                throw DataError("\(namesFile): \(lines.count) names for the \(classes.count) class folders of \(splitPath)")
            }
            names = lines
        } else {
            names = classes.map { $0.replacingOccurrences(of: "_", with: " ") }
        }
    }

    /// The images of class folder `name` in `split`, sorted by file name (absolute paths).
    public func images(split: String, class name: String) throws -> [String] {
        let folder = root + "/" + split + "/" + name
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw DataError("\(folder): class folder not found")
        }
        let images = files.filter { Self.imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        let absolute = URL(fileURLWithPath: folder).standardizedFileURL.path
        return images.map { absolute + "/" + $0 }
    }

    /// The display name of class folder `name`.
    public func displayName(_ name: String) -> String? { classes.firstIndex(of: name).map { names[$0] } }
}

/// A class-incremental protocol, PyCIL's `B{base}-Inc{k}`: the classes, in a seeded order, are
/// cut into tasks: the first learns `base` classes (k when base is 0), each later one k more.
public struct ClassIncrementalProtocol: Sendable, Equatable, CustomStringConvertible {
    public let base: Int
    public let increment: Int

    /// "B0-Inc2", "B5-Inc1", … (case-insensitive); nil when `text` is not one.
    public init?(_ text: String) {
        let parts = text.uppercased().split(separator: "-")
        guard parts.count == 2, parts[0].hasPrefix("B"), parts[1].hasPrefix("INC"),
              let b = Int(parts[0].dropFirst()), let k = Int(parts[1].dropFirst(3)), b >= 0, k >= 1 else { return nil }
        base = b
        increment = k
    }

    public var description: String { "B\(base)-Inc\(increment)" }

    /// The tasks as ranges of positions in the class order, for `classes` classes (a last task
    /// may be smaller). Empty when the base alone exceeds the classes.
    public func tasks(classes: Int) -> [Range<Int>] {
        var tasks: [Range<Int>] = [], start = 0
        let first = base == 0 ? increment : base
        guard first <= classes else { return [] }
        tasks.append(0..<first)
        start = first
        while start < classes {
            tasks.append(start..<Swift.min(classes, start + increment))
            start += increment
        }
        return tasks
    }

    /// The class order of `seed`: a seeded permutation of 0..<count (PyCIL's default seed is
    /// 1993; this is the project's generator, not NumPy's, so the order differs from PyCIL's).
    public static func classOrder(count: Int, seed: UInt64) -> [Int] {
        var rng = SeededGenerator(seed: seed)
        var order = Array(0..<count)
        order.shuffle(using: &rng)
        return order
    }
}
