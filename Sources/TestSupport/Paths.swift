import Foundation

/// Locations tests read from: committed fixtures and the optional `../shared` folder.
public enum TestPaths {
    /// The repository root (found from this source file's path).
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Sources/TestSupport/Paths.swift
        return url.path
    }()

    public static func fixture(_ name: String) -> String { root + "/Tests/Fixtures/" + name }

    /// `../shared` beside the checkout, or `$MLLM_CL_SHARED`.
    public static let shared: String = ProcessInfo.processInfo.environment["MLLM_CL_SHARED"]
        ?? URL(fileURLWithPath: root).deletingLastPathComponent().appendingPathComponent("shared").path

    public static var sharedAvailable: Bool {
        FileManager.default.fileExists(atPath: shared + "/models/stories260K/stories260K.bin")
    }

    /// A fresh empty temporary directory.
    public static func temporaryDirectory(_ tag: String = "test") -> String {
        let path = NSTemporaryDirectory() + "mllm-cl-\(tag)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
