import Support

/// A training run that cannot go on: the error names the file, recipe key or checkpoint at fault.
public enum TrainErrors: ErrorDomain {}
public typealias TrainError = UserError<TrainErrors>
