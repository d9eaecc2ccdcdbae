import Support

/// Errors loading, saving or shaping a model: they name the file and the field or tensor.
public enum ModelErrors: ErrorDomain {}
public typealias ModelError = UserError<ModelErrors>
