import Foundation

/// What loading a checkpoint does with a tensor holding NaN or infinite values. A model scored
/// with one is silently wrong, so the default refuses it; inspecting a diverged run may want to
/// load it anyway (`--allow-non-finite-weights`).
public enum NonFiniteWeights: Sendable {
    /// An error naming the file and the tensor (the default).
    case refuse
    /// A warning naming the file and the tensor on stderr, then the load goes on.
    case report

    /// This process's choice, set once by the command line before anything loads.
    nonisolated(unsafe) public static var policy: NonFiniteWeights = .refuse

    /// Applies the policy to `count` bad values of `total` in `tensor` of `file`.
    static func handle(count: Int, of total: Int, tensor: String, file: String) throws {
        let what = "\(file): tensor '\(tensor)' has \(count) NaN or infinite value(s) of \(total)"
        switch policy {
        case .refuse:
            throw ModelError("\(what): the checkpoint is damaged or diverged (--allow-non-finite-weights loads it anyway)")
        case .report:
            FileHandle.standardError.write(Data("warning: \(what); loading it anyway (--allow-non-finite-weights)\n".utf8))
        }
    }
}
