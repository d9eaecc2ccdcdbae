import Foundation
import Support

/// `generation_config.json`, as `save_pretrained` writes it beside `config.json`: the ids
/// transformers' `generate` stops on (`eos_token_id`, one id or a list: Qwen2-Instruct's
/// `[151645, 151643]`). The sampling defaults in it are not read: the command line sets those.
public struct GenerationConfig: Sendable, Equatable {
    public static let file = "generation_config.json"
    /// `eos_token_id` (empty when the file has none).
    public var eosTokenIds: [Int]
    /// The file as read, written unchanged into checkpoints trained from it.
    let contents: Data

    /// The file in `directory`, or nil when there is none; a file that is not JSON, or an
    /// `eos_token_id` that is neither an id nor a list of ids, is an error naming it.
    public static func load(directory: String) throws -> GenerationConfig? {
        let path = directory + "/" + file
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw ModelError("\(path): not a JSON object") }
        switch o["eos_token_id"] {
        case nil, is NSNull: return GenerationConfig(eosTokenIds: [], contents: data)
        case let list as [Int] where list.allSatisfy(isTokenID): return GenerationConfig(eosTokenIds: list, contents: data)
        case let id as Int where isTokenID(id): return GenerationConfig(eosTokenIds: [id], contents: data)
        default: throw ModelError("\(path): 'eos_token_id' should be a token id or a list of ids")
        }
    }

    private static func isTokenID(_ id: Int) -> Bool { id >= 0 && id <= Int(Int32.max) }

    /// Writes the file as it was read into `directory`, atomically.
    public func save(into directory: String) throws { try AtomicFile.write(contents, to: directory + "/" + Self.file) }
}
