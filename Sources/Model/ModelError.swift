/// A user-facing failure to load, save or shape a model: names the file and the field.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
