import Data
import Foundation
import Infer
import Model
import SafeTensors
import TestSupport
import Testing
import Train

/// Values outside their domain, from a recipe, a config.json, the command line or the weights,
/// are refused before anything is allocated or computed, each error naming the file, the key
/// and the limit (issue 16's "bad values accepted silently" and "crashes on user input").
struct InputDomainTests {
    let dir = TestPaths.temporaryDirectory("domains")

    init() throws { try ToyWorld(seed: 5, entities: 6).write(to: dir + "/data", variants: 2) }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    func recipeError(_ overrides: [String]) -> String {
        message { _ = try RecipeLoader.decode(TinyRecipe.yaml(directory: dir), file: "tiny.yaml", overrides: ["output_dir=\(dir)/o"] + overrides) }
    }

    @Test(arguments: [
        ("stages.0.adam_beta2=1.5", "'adam_beta2' must be in [0, 1), got 1.5"),
        ("stages.0.adam_epsilon=0", "'adam_epsilon' must be positive, got 0.0"),
        ("stages.0.max_grad_norm=-1", "'max_grad_norm' must be at least 0 (0: no clipping), got -1.0"),
        ("stages.0.warmup_steps=-3", "'warmup_steps' must be at least 0, got -3"),
        ("stages.0.weight_decay=.nan", "'weight_decay' must be at least 0, got nan"),
        ("stages.0.lr_multipliers={\"model.*\": .nan}", "the learning-rate multiplier of 'model.*' must be a finite number at least 0, got nan"),
        ("stages.0.per_device_train_batch_size=100000000", "tokens a step is above this project's limit"),
        ("stages.0.data.0.weight=.inf", "a data source's 'weight' must be in (0, 1e6], got inf"),
    ])
    func recipeValuesOutsideTheirDomain(_ override: String, _ expected: String) {
        let m = recipeError([override])
        #expect(m.contains("tiny.yaml") && m.contains(expected), "\(m)")
    }

    @Test func configSizesAndFloatsOutsideTheirDomain() throws {
        func error(_ change: (inout [String: Any]) -> Void) throws -> String {
            let copy = TestPaths.temporaryDirectory("cfg")
            for f in try FileManager.default.contentsOfDirectory(atPath: TestPaths.fixture("hf/qwen2-tiny")) {
                try FileManager.default.copyItem(atPath: TestPaths.fixture("hf/qwen2-tiny/" + f), toPath: copy + "/" + f)
            }
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: copy + "/config.json"))) as! [String: Any]
            change(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: copy + "/config.json"))
            return message { _ = try LoadedModel(directory: copy) }
        }
        let huge = try error { $0["hidden_size"] = 1_000_000_000 }
        #expect(huge.contains("config.json: 'hidden_size' must be in 1...65536, got 1000000000"), "\(huge)")
        let memory = try error { $0["hidden_size"] = 65_536; $0["num_attention_heads"] = 64; $0["num_key_value_heads"] = 64; $0["vocab_size"] = 1 << 24 }
        #expect(memory.contains("the decoder would take") && memory.contains("of memory"), "\(memory)")
        #expect(try error { $0["rms_norm_eps"] = -1e-6 }.contains("'rms_norm_eps' must be positive"))
        #expect(try error { $0["rope_theta"] = 0 }.contains("'rope_theta' must be positive"))
    }

    @Test func samplingOptionsOutsideTheirDomain() {
        for (options, expected) in [(SamplingOptions(temperature: .nan), "--temperature must be a finite number"),
                                    (SamplingOptions(topK: -1), "--top-k must be at least 0"),
                                    (SamplingOptions(topP: 0), "--top-p must be in (0, 1]")] {
            let m = message { try options.validate() }
            #expect(m.contains(expected), "\(m)")
        }
        #expect(message { try SamplingOptions(temperature: 0.7, topK: 5, topP: 0.9).validate() } == "no error")
    }

    /// A NaN in the weights is refused at load with the tensor's name.
    @Test func nonFiniteWeightsAreRefused() throws {
        let copy = TestPaths.temporaryDirectory("nan")
        let source = TestPaths.fixture("hf/llama-tiny")
        for f in try FileManager.default.contentsOfDirectory(atPath: source) where f != "model.safetensors" {
            try FileManager.default.copyItem(atPath: source + "/" + f, toPath: copy + "/" + f)
        }
        let weights = try SafeTensorsCheckpoint(directory: source)
        var arrays = try weights.names.map { ($0, try weights.info($0).shape, try weights.floats($0)) }
        let target = try #require(arrays.firstIndex { $0.0 == "model.layers.1.mlp.up_proj.weight" })
        arrays[target].2[7] = .nan
        let buffers = arrays.map { _, _, values in
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
            _ = b.initialize(from: values)
            return b
        }
        defer { buffers.forEach { $0.deallocate() } }
        let entries = zip(arrays, buffers).map { a, b in SafeTensorsWriter.Entry(name: a.0, shape: a.1, data: UnsafeBufferPointer(b)) }
        try SafeTensorsWriter.write(entries, to: copy + "/model.safetensors")
        let m = message { _ = try LoadedModel(directory: copy) }
        #expect(m.contains("model.safetensors: tensor 'model.layers.1.mlp.up_proj.weight' has 1 NaN or infinite value(s)"), "\(m)")
    }

    /// Clear messages where raw decoder dumps or wrong words used to come out.
    @Test func clearMessagesForDamagedOrWrongInputs() throws {
        #expect(message { _ = try ImageDecoder.decode(path: dir) } == "\(dir): is a directory, not an image")
        #expect(recipeError(["seed=-1"]).contains("'seed' should be a non-negative integer"))
        let checkpoint = TestPaths.temporaryDirectory("state")
        try #"{"stage": "a"}"#.write(toFile: checkpoint + "/trainer_state.json", atomically: true, encoding: .utf8)
        let m = message { _ = try Checkpoint.readState(checkpoint) }
        #expect(m.contains("trainer_state.json: missing the key") && m.contains("damaged"), "\(m)")
        try "{not json".write(toFile: checkpoint + "/trainer_state.json", atomically: true, encoding: .utf8)
        #expect(message { _ = try Checkpoint.readState(checkpoint) }.contains("trainer_state.json: not a trainer state"))
    }
}

