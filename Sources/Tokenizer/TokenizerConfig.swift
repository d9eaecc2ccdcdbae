import Foundation
import Support

/// The special tokens and options beside a `tokenizer.json` or a `tokenizer.model` in a Hugging
/// Face directory: `tokenizer_config.json` (`bos_token`, `eos_token`, `unk_token`, `pad_token`,
/// `add_bos_token`, `extra_special_tokens`, `chat_template`), `special_tokens_map.json`, which
/// fills what the first leaves out, and `chat_template.jinja`, where transformers 5 writes the
/// template. Tokens may be written as strings or as `{"content": ...}` objects.
public struct TokenizerConfig: @unchecked Sendable {
    public var bosToken: String?
    public var eosToken: String?
    public var unknownToken: String?
    public var padToken: String?
    /// `additional_special_tokens` / `extra_special_tokens` (matched in text as single ids).
    public var extraSpecialTokens: [String] = []
    /// `add_bos_token` (nil: not said).
    public var addBOSToken: Bool?
    /// The Jinja chat template (`chat_template`: a string, or the entry named "default" of a
    /// list; else the contents of `chat_template.jinja`).
    public var chatTemplate: String?
    /// The file the chat template was read from (for messages).
    public var chatTemplatePath: String?
    /// Where `tokenizer_config.json` lives (nil: there is none).
    public let configPath: String?
    /// The files as read, to write them back.
    let configJSON: [String: Any]?
    let specialTokensMap: [String: Any]?
    let templateFile: String?

    /// No config at all.
    public init() {
        configPath = nil
        configJSON = nil
        specialTokensMap = nil
        templateFile = nil
    }

    /// Reads the files in `directory` (each optional); a file that is not a JSON object, or a
    /// token that is neither a string nor `{"content": ...}`, is an error naming the file and key.
    public init(directory: String) throws {
        let configFile = directory + "/" + TokenizerFiles.config, mapFile = directory + "/" + TokenizerFiles.specialTokensMap
        let templatePath = directory + "/" + TokenizerFiles.chatTemplate
        configJSON = try Self.object(configFile)
        specialTokensMap = try Self.object(mapFile)
        configPath = configJSON == nil ? nil : configFile
        let sources = [(configJSON, configFile), (specialTokensMap, mapFile)]
        func content(_ value: Any, _ key: String, _ file: String) throws -> String {
            if let s = value as? String { return s }
            if let o = value as? [String: Any], let s = o["content"] as? String { return s }
            throw TokenizerError("\(file): '\(key)' should be a string or {\"content\": ...}")
        }
        func token(_ key: String) throws -> String? {
            for (source, file) in sources {
                guard let value = source?[key], !(value is NSNull) else { continue }
                return try content(value, key, file)
            }
            return nil
        }
        bosToken = try token("bos_token")
        eosToken = try token("eos_token")
        unknownToken = try token("unk_token")
        padToken = try token("pad_token")
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            for (source, file) in sources {
                guard let list = source?[key] as? [Any] else { continue }
                extraSpecialTokens += try list.map { try content($0, key, file) }
            }
        }
        addBOSToken = configJSON?["add_bos_token"] as? Bool
        switch configJSON?["chat_template"] {
        case nil, is NSNull: chatTemplate = nil
        case let s as String: chatTemplate = s
        case let list as [[String: Any]]:
            guard let entry = list.first(where: { $0["name"] as? String == "default" })?["template"] as? String else {
                throw TokenizerError("\(configFile): 'chat_template' is a list without a 'default' template")
            }
            chatTemplate = entry
        default: throw TokenizerError("\(configFile): 'chat_template' should be a string or a list of {name, template}")
        }
        if chatTemplate != nil {
            chatTemplatePath = configFile
            templateFile = nil
        } else if let data = FileManager.default.contents(atPath: templatePath) {
            guard let text = String(data: data, encoding: .utf8) else { throw TokenizerError("\(templatePath): not UTF-8 text") }
            (chatTemplate, chatTemplatePath, templateFile) = (text, templatePath, text)
        } else {
            templateFile = nil
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
        if let templateFile { try AtomicFile.write(Data(templateFile.utf8), to: directory + "/" + TokenizerFiles.chatTemplate) }
    }
}
