import Foundation

/// One turn of a LLaVA-style conversation (`from`: human or gpt; `system` is also accepted).
public struct Turn: Sendable, Equatable {
    public enum Role: String, Sendable { case system, human, gpt }
    public let role: Role
    public let value: String
    public init(_ role: Role, _ value: String) { self.role = role; self.value = value }
}

/// A tokenized training example: `tokens` with, per token, whether it is a prediction
/// target (`supervised`). The loss is on supervised tokens only.
public struct Sample: Sendable, Equatable {
    public var tokens: [Int32]
    public var supervised: [Bool]
    /// Index of the sample's image in its dataset's preprocessed images.
    public var image: Int?

    public init(tokens: [Int32], supervised: [Bool], image: Int? = nil) {
        precondition(tokens.count == supervised.count)
        self.tokens = tokens
        self.supervised = supervised
        self.image = image
    }
}
