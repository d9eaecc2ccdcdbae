/// A problem with user data or a recipe: names the file and the line, sample or key.
public struct DataError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
