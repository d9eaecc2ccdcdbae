import Foundation
import Yams

/// Turns a key path of a recipe into a located `RecipeError`: the line of the YAML node at that
/// path (no line when the path names no node, e.g. a key the recipe leaves to its default). The
/// checks that types cannot express use it.
struct RecipeLocator {
    let root: Node
    let file: String

    /// The YAML node at `path` (list items by index).
    func node(_ path: [String]) -> Node? {
        var n: Node? = root
        for k in path {
            if let i = Int(k), case .sequence(let s)? = n { n = i < s.count ? s[i] : nil } else { n = n?[k] }
        }
        return n
    }

    /// An error located at `path`.
    func error(_ path: [String], _ message: String) -> RecipeError {
        RecipeError(file: file, line: node(path)?.mark?.line, key: path.isEmpty ? nil : Self.display(path), message)
    }

    /// An error (`message`, located at `path`) unless `file` exists.
    func requireFile(_ file: String, at path: [String], _ message: @autoclosure () -> String) throws {
        guard FileManager.default.fileExists(atPath: file) else { throw error(path, message()) }
    }

    /// `stages.0.data` as `stages[0].data`.
    static func display(_ path: [String]) -> String {
        path.reduce("") { s, p in Int(p) != nil ? s + "[\(p)]" : (s.isEmpty ? p : s + "." + p) }
    }
}
