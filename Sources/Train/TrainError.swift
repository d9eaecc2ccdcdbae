/// A training run that cannot go on: names the file, recipe key or checkpoint at fault.
public struct TrainError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
