import Support

/// A recipe that cannot run, with where: the recipe file (or the `--set` override) at fault,
/// the line when known, the key path (`stages[0].learning_rate`) and what is wrong.
///
/// Printed as `recipe.yaml:34: unknown key 'lerning_rate' in 'stages[0]' (did you mean 'learning_rate'?)`.
public struct RecipeError: UserFacingError, Equatable {
    public let file: String
    public let line: Int?
    public let key: String?
    public let message: String

    public init(file: String, line: Int? = nil, key: String? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
}
