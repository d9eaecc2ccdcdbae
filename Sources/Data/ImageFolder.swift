import Foundation

/// A folder images are named relative to (a training source's `image_folder`, an eval suite's
/// folder, `infer --image-folder`): a path resolves inside it or is refused. Symbolic links are
/// resolved on both sides before the check (realpath), so a link inside the folder that points
/// outside it is refused as `../` is.
public struct ImageFolder: Sendable {
    public let root: String
    private let realRoot: String

    public init(_ folder: String) {
        root = URL(fileURLWithPath: folder).standardizedFileURL.path
        realRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
    }

    /// `path` (relative to the folder, or absolute) as a path inside the folder, or nil when it
    /// leads outside, through `..` or a symbolic link. `absoluteAllowed`: an absolute path is
    /// taken as given (an eval suite or an infer input naming its files explicitly).
    public func resolve(_ path: String, absoluteAllowed: Bool = false) -> String? {
        if absoluteAllowed && path.hasPrefix("/") { return path }
        let joined = URL(fileURLWithPath: path.hasPrefix("/") ? path : root + "/" + path).standardizedFileURL
        let real = joined.resolvingSymlinksInPath().path
        let inside = realRoot.hasSuffix("/") ? realRoot : realRoot + "/"
        return real.hasPrefix(inside) ? joined.path : nil
    }
}
