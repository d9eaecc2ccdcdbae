import Foundation
import Model
import TestSupport
import Testing

struct ModelDirectoryTests {
    func copyFixture() throws -> String {
        let dir = TestPaths.temporaryDirectory("modeldir")
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: TestPaths.fixture("decoder_qwen2_gqa") + "/" + f, toPath: dir + "/" + f)
        }
        return dir
    }

    func editConfig(_ dir: String, _ edit: (inout [String: Any]) -> Void) throws {
        let path = dir + "/config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func missingConfigKeyNamesFileAndKey() throws {
        let dir = try copyFixture()
        try editConfig(dir) { $0["hidden_size"] = nil }
        let m = message { _ = try ModelDirectory.loadDecoder(dir) }
        #expect(m.contains("config.json") && m.contains("hidden_size"), "\(m)")
    }

    @Test func checkpointShapeMismatchNamesTensor() throws {
        let dir = try copyFixture()
        try editConfig(dir) { $0["intermediate_size"] = 20 }
        let m = message { _ = try ModelDirectory.loadDecoder(dir) }
        #expect(m.contains("model.safetensors") && m.contains("model.layers.0.mlp.gate_proj.weight") && m.contains("[24, 16]"), "\(m)")
    }

    @Test func inconsistentHeadsAreRejected() throws {
        let dir = try copyFixture()
        try editConfig(dir) { $0["num_key_value_heads"] = 3 }
        let m = message { _ = try ModelDirectory.loadDecoder(dir) }
        #expect(m.contains("num_key_value_heads"), "\(m)")
    }

    @Test func saveThenLoadIsBitIdentical() throws {
        let decoder = try ModelDirectory.loadDecoder(TestPaths.fixture("decoder_qwen2_gqa"))
        let out = TestPaths.temporaryDirectory("saved")
        try ModelDirectory.save(decoder, to: out)
        let again = try ModelDirectory.loadDecoder(out)
        #expect(again.config == decoder.config)
        #expect(again.parameters.values.all.array == decoder.parameters.values.all.array)
    }
}
