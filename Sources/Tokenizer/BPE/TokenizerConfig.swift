import Foundation
import Support

/// The special tokens and options beside a `tokenizer.json` (or a `tokenizer.model`) in a
/// Hugging Face directory: `tokenizer_config.json` (`bos_token`, `eos_token`, `pad_token`,
/// `add_bos_token`, `chat_template`) and `special_tokens_map.json`, which fills what the first
/// leaves out. Tokens may be written as strings or as `{"content": ...}` objects.
public struct TokenizerConfig: @unchecked Sendable {
    public var bosToken: String?
    public var eosToken: String?
    public var padToken: String?
    /// `add_bos_token` (nil: not said).
    public var addBOSToken: Bool?
    /// The Jinja chat template (`chat_template`: a string, or the entry named "default" of a list).
    public var chatTemplate: String?
    /// Where `tokenizer_config.json` lives (nil: there is none).
    public let configPath: String?
    /// The files as read, to write them back.
    let configJSON: [String: Any]?
    let specialTokensMap: [String: Any]?

    /// No config at all.
    public init() {
        configPath = nil
        configJSON = nil
        specialTokensMap = nil
    }

    /// Reads the two files in `directory` (each optional); a file that is not a JSON object is an error naming it.
    public init(directory: String) throws {
        let configFile = directory + "/" + TokenizerFiles.config, mapFile = directory + "/" + TokenizerFiles.specialTokensMap
        configJSON = try Self.object(configFile)
        specialTokensMap = try Self.object(mapFile)
        configPath = configJSON == nil ? nil : configFile
        func token(_ key: String) throws -> String? {
            for (source, file) in [(configJSON, configFile), (specialTokensMap, mapFile)] {
                guard let value = source?[key], !(value is NSNull) else { continue }
                if let s = value as? String { return s }
                if let o = value as? [String: Any], let s = o["content"] as? String { return s }
                throw TokenizerError("\(file): '\(key)' should be a string or {\"content\": ...}")
            }
            return nil
        }
        bosToken = try token("bos_token")
        eosToken = try token("eos_token")
        padToken = try token("pad_token")
        addBOSToken = configJSON?["add_bos_token"] as? Bool
        switch configJSON?["chat_template"] {
        case let s as String: chatTemplate = s
        case let list as [[String: Any]]: chatTemplate = list.first { $0["name"] as? String == "default" }?["template"] as? String
        default: chatTemplate = nil
        }
    }

    static func object(_ path: String) throws -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw TokenizerError("\(path): not a JSON object") }
        return o
    }

    /// Writes the files it was read from (unchanged) into `directory`.
    func save(into directory: String) throws {
        for (object, name) in [(configJSON, TokenizerFiles.config), (specialTokensMap, TokenizerFiles.specialTokensMap)] {
            guard let object else { continue }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try AtomicFile.write(data, to: directory + "/" + name)
        }
    }
}
