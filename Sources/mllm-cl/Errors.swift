import ArgumentParser
import Foundation

/// Runs `body`; a thrown user error is printed as one line on stderr and exits non-zero.
@discardableResult
func runReportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// Flushes buffered standard output (progress lines, streamed tokens).
func flushOutput() { fflush(nil) }
