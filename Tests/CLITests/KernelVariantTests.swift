import CKernels
import Foundation
import Testing
import TestSupport

/// `MLLM_CL_KERNEL` forces a decode-kernel variant for the whole binary: generate runs under each
/// variant this CPU has (portable always; AVX2, AVX-512 where present), reports it, and prints the
/// same greedy text as the default, in float32 and bfloat16.
@Suite struct KernelVariantTests {
    static let variants: [mk_isa] = [MK_ISA_PORTABLE, MK_ISA_AVX2, MK_ISA_AVX512]

    /// stdout and stderr of `mllm-cl args` with `environment` added.
    func run(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: HostileInputTests.binary)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test(arguments: variants) func everyVariantGeneratesTheSameText(_ isa: mk_isa) throws {
        let name = String(cString: mk_isa_name(isa))
        guard mk_isa_supported(isa) != 0 else {
            print("KernelVariantTests: this CPU has no \(name): its variant is not run here")
            return
        }
        for (model, dtype) in [("hf/llama-tiny", "f32"), ("hf/qwen2-tiny", "bf16")] {
            let args = ["generate", "--model", TestPaths.fixture(model), "--prompt", "Once upon a time", "--max-new-tokens", "12", "--dtype", dtype]
            let expected = try run(args), forced = try run(args, environment: ["MLLM_CL_KERNEL": name])
            #expect(expected.status == 0 && forced.status == 0, "\(forced.err)")
            #expect(forced.out == expected.out, "\(name) \(model) \(dtype): \(forced.out) vs \(expected.out)")
        }
        let json = TestPaths.temporaryDirectory("kernel") + "/bench.json"
        let bench = try run(["bench", "decode", "--model", TestPaths.fixture("hf/llama-tiny"), "--new-tokens", "4", "--repeats", "1", "--json", json],
                            environment: ["MLLM_CL_KERNEL": name])
        #expect(bench.status == 0, "\(bench.err)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        #expect(report?["kernel"] as? String == name)
        for key in ["tokens_per_second", "weight_bytes_per_token", "memory_bandwidth_gbps", "bandwidth_ratio"] {
            #expect((report?[key] as? Double).map { $0 > 0 } == true, "\(key) in \(String(describing: report))")
        }
    }
}
