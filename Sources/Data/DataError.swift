import Support

/// Errors in user data or a recipe's data: they name the file and the line, sample or key.
public enum DataErrors: ErrorDomain {}
public typealias DataError = UserError<DataErrors>
