import Foundation

/// Reading a `config.json`: the file, its JSON object (for key policies) and its `Codable`
/// decoding, each failure one message naming the file and the key.
enum ConfigFile {
    /// The bytes of `path` and their top-level JSON object.
    static func read(_ path: String) throws -> (data: Data, object: [String: Any]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw ModelError("\(path): file not found") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw ModelError("\(path): not a JSON object") }
        return (data, object)
    }

    /// `data` decoded as `T`; `what` names the kind of config in the last-resort message.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, path: String, what: String) throws -> T {
        func key(_ context: DecodingError.Context, _ last: CodingKey? = nil) -> String {
            (context.codingPath + [last].compactMap { $0 }).map(\.stringValue).joined(separator: ".")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.keyNotFound(missing, context) {
            throw ModelError("\(path): missing required key '\(key(context, missing))'")
        } catch let DecodingError.typeMismatch(type, context) {
            throw ModelError("\(path): '\(key(context))' should be \(type)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw ModelError("\(path): '\(key(context))' is null, expected \(type)")
        } catch let error as ModelError {
            throw ModelError("\(path): \(error.description)")
        } catch {
            throw ModelError("\(path): not \(what) (\(error.localizedDescription))")
        }
    }
}
