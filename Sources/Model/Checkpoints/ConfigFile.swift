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
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            // e.g. a fractional or too large number where an integer belongs
            throw ModelError("\(path): '\(key(context))': \(context.debugDescription)")
        } catch let error as ModelError {
            throw ModelError("\(path): \(error.description)")
        } catch {
            if let culprit = numberDecoderRejects(T.self, in: data) {
                throw ModelError("\(path): '\(culprit.key)' is \(culprit.value): an integer is expected there (a whole number within ±2^63)")
            }
            throw ModelError("\(path): not \(what) (\(error.localizedDescription))")
        }
    }

    /// Foundation's JSONDecoder reports a fractional or huge number where an `Int` belongs as
    /// "not valid JSON", naming no key: finds the number whose replacement by 0 makes `data` decode.
    static func numberDecoderRejects<T: Decodable>(_ type: T.Type, in data: Data) -> (key: String, value: String)? {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        func suspects(_ value: Any, path: [String]) -> [[String]] {
            if let o = value as? [String: Any] { return o.keys.sorted().flatMap { suspects(o[$0]!, path: path + [$0]) } }
            guard let n = value as? NSNumber, !(value is Bool), String(cString: n.objCType) != "c" else { return [] }
            let d = n.doubleValue
            return d.rounded() != d || abs(d) >= 9.2e18 ? [path] : []
        }
        func replacing(_ value: Any, at path: ArraySlice<String>) -> Any {
            guard let key = path.first, var o = value as? [String: Any] else { return 0 }
            o[key] = replacing(o[key]!, at: path.dropFirst())
            return o
        }
        func lookup(_ value: Any, _ path: [String]) -> Any? {
            path.reduce(Optional(value)) { ($0 as? [String: Any])?[$1] }
        }
        for path in suspects(object, path: []) {
            guard let fixed = try? JSONSerialization.data(withJSONObject: replacing(object, at: path[...])) else { continue }
            if (try? JSONDecoder().decode(T.self, from: fixed)) != nil {
                return (path.joined(separator: "."), lookup(object, path).map { "\($0)" } ?? "?")
            }
        }
        return nil
    }
}
