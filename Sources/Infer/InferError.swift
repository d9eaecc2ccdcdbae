import Support

/// A line of an `infer` input that cannot be used, or an output that cannot be written.
public enum InferErrors: ErrorDomain {}
public typealias InferError = UserError<InferErrors>
