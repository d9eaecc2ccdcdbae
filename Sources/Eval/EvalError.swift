import Support

/// A suite or an item that cannot be scored: the error names the file and line.
public enum EvalErrors: ErrorDomain {}
public typealias EvalError = UserError<EvalErrors>
