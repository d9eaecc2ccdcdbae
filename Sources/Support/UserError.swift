/// What a user can fix: a missing or malformed file, a bad value, a shape that does not fit.
/// The description is one line naming the file and the field, line or tensor at fault.
///
/// `Domain` gives each module its own error type with one implementation:
/// `DataError`, `ModelError`, `EvalError`, `TokenizerError` and `TrainError` are all
/// `UserError`s, so `#expect(throws: DataError.self)` still tells them apart.
public struct UserError<Domain: ErrorDomain>: UserFacingError {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// An error whose description is meant for the user: one line naming the file and the field,
/// line or tensor at fault. Anything else that escapes a parser (a raw `DecodingError`, an
/// `NSError`) is a bug the fuzz targets report (`Fuzzing`).
public protocol UserFacingError: Error, CustomStringConvertible, Sendable {}

/// Marks the module an error comes from (an uninhabited enum per module).
public protocol ErrorDomain: Sendable {}

/// Files this module writes (`AtomicFile`).
public enum FileErrors: ErrorDomain {}
/// A file that could not be written or moved into place.
public typealias FileError = UserError<FileErrors>

/// User content quoted for a one-line message: control characters escaped (`\n`, `\u{1}`) and
/// at most `limit` characters, with `…` when cut.
public func excerpt(_ text: some StringProtocol, limit: Int = 80) -> String {
    let cut = text.count > limit
    let quoted = String(text.prefix(limit)).debugDescription
    return cut ? String(quoted.dropLast()) + "…\"" : quoted
}
