import Support

/// A tokenizer that cannot be loaded, edited or saved: the error names the file.
public enum TokenizerErrors: ErrorDomain {}
public typealias TokenizerError = UserError<TokenizerErrors>
