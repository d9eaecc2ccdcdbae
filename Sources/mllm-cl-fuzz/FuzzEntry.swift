// The libFuzzer entry point over ``FuzzTarget`` (built by `scripts/fuzz.sh` with
// `-sanitize=fuzzer,address -parse-as-library -DFUZZING`; `fuzzMain` starts libFuzzer's driver). The target is named by
// `MLLM_CL_FUZZ_TARGET`. A finding (a raw error, a message not naming the file) aborts, so that
// libFuzzer saves the input like any crash.
//
// Built without FUZZING (as `swift build` does), it replays files instead:
// `mllm-cl-fuzz TARGET FILE...` prints each file's outcome and exits 1 on a finding.
import Foundation
import Fuzzing

/// Writes `line` to standard error.
func complain(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

#if FUZZING
private let target: FuzzTarget = {
    setenv("MLLM_CL_MEMORY_LIMIT", FuzzTarget.memoryLimit, 1)
    let name = ProcessInfo.processInfo.environment["MLLM_CL_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        complain("mllm-cl-fuzz: set MLLM_CL_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        exit(2)
    }
    return target
}()

private let scratch = NSTemporaryDirectory() + "mllm-cl-fuzz-\(getpid())/" + target.rawValue

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    do {
        _ = try target.run(input, scratch: scratch)
    } catch {
        complain("\(error)")
        abort()
    }
    return 0
}

/// libFuzzer's driver (linked by `-sanitize=fuzzer`).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The executable's entry point: SwiftPM links `main` to `<module>_main`, so libFuzzer's own
/// `main` is not used and this hands the arguments to its driver.
@_cdecl("mllm_cl_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var argc = argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzOne)
}
#else
/// Replays files through a target (no libFuzzer).
@main
enum Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            complain("usage: mllm-cl-fuzz TARGET FILE...  (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            exit(2)
        }
        let scratch = NSTemporaryDirectory() + "mllm-cl-fuzz-\(getpid())"
        var findings = 0
        for file in arguments.dropFirst() {
            guard let input = FileManager.default.contents(atPath: file) else {
                complain("\(file): cannot read")
                exit(2)
            }
            do {
                switch try target.run(input, scratch: scratch) {
                case .accepted: print("\(file): accepted")
                case .refused(let message): print("\(file): refused: \(message)")
                }
            } catch {
                print("\(file): FINDING: \(error)")
                findings += 1
            }
        }
        try? FileManager.default.removeItem(atPath: scratch)
        exit(findings == 0 ? 0 : 1)
    }
}
#endif
