import Data
import Foundation
import Infer
import Model
import SafeTensors
import TestSupport
import Testing
import Tokenizer

/// A Hugging Face directory with one thing wrong: each is one clear error naming the file and
/// the field (the CLI prints it and exits 1), never a crash or a silent fallback.
struct HuggingFaceBadInputTests {
    /// A copy of a fixture directory to break.
    func copy(_ name: String = "qwen2-tiny") throws -> String {
        let dir = TestPaths.temporaryDirectory("hf-bad")
        let source = TestPaths.fixture("hf/" + name)
        for f in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: source + "/" + f, toPath: dir + "/" + f)
        }
        return dir
    }

    func edit(_ path: String, _ change: (inout [String: Any]) -> Void) throws {
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        change(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    func loadError(_ dir: String) -> String { message { _ = try LoadedModel(directory: dir) } }

    @Test func tokenizerJSONUnknownModelType() throws {
        let dir = try copy()
        try edit(dir + "/tokenizer.json") { j in var m = j["model"] as! [String: Any]; m["type"] = "WordPiece"; j["model"] = m }
        let m = loadError(dir)
        #expect(m.contains("tokenizer.json: 'model.type' is 'WordPiece'"), "\(m)")
    }

    @Test func tokenizerJSONMissingMerges() throws {
        let dir = try copy()
        try edit(dir + "/tokenizer.json") { j in var m = j["model"] as! [String: Any]; m["merges"] = nil; j["model"] = m }
        let m = loadError(dir)
        #expect(m.contains("tokenizer.json: 'model.merges' is missing"), "\(m)")
    }

    @Test func tokenizerJSONMalformedRegex() throws {
        let dir = try copy()
        try edit(dir + "/tokenizer.json") { j in
            var p = j["pre_tokenizer"] as! [String: Any], steps = p["pretokenizers"] as! [[String: Any]]
            steps[0]["pattern"] = ["Regex": "(?i:'s|'t"]
            p["pretokenizers"] = steps
            j["pre_tokenizer"] = p
        }
        let m = loadError(dir)
        #expect(m.contains("tokenizer.json: 'pre_tokenizer.pretokenizers[0].pattern.Regex' is not a valid regex"), "\(m)")
    }

    /// A chat template mllm-cl does not render is an error naming the file, suggesting `template:`;
    /// naming a template explicitly needs no recognition.
    @Test func unknownChatTemplate() throws {
        let dir = try copy()
        try edit(dir + "/tokenizer_config.json") { $0["chat_template"] = "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}" }
        let tokenizer = try TokenizerFiles.load(directory: dir)
        let m = message { _ = try ChatFormat.resolve(nil, tokenizer: tokenizer) }
        #expect(m.contains("tokenizer_config.json: chat_template is not one mllm-cl renders") && m.contains("template:"), "\(m)")
        #expect(try ChatFormat.resolve(.chatml, tokenizer: tokenizer).template == .chatml)
        let loaded = try LoadedModel(directory: dir)
        let g = message { _ = try Generator.complete(loaded, prompt: .chat("hi", .auto), maxNewTokens: 2, options: SamplingOptions()) { _ in } }
        #expect(g == m)
        // Training data: documents alone need no template; a conversation needs one.
        try Data("{\"text\": \"Rubok lives in Velora.\"}\n".utf8).write(to: URL(fileURLWithPath: dir + "/docs.jsonl"))
        try Data(#"[{"id": "1", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}]"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/chat.json"))
        func dataset(_ file: String, _ template: ChatTemplate?) throws -> StageDataset {
            try StageDataset(sources: [DataSource(path: file)], baseDirectory: dir, tokenizer: tokenizer, template: template, system: nil,
                             sequenceLength: 32, skipBadSamples: false)
        }
        #expect(try dataset("docs.jsonl", nil).sources[0].count == 1)
        #expect(message { _ = try dataset("chat.json", nil) } == m)
        #expect(try dataset("chat.json", .chatml).sources[0].count == 1)
    }

    /// A tokenizer with ids beyond `vocab_size` (added tokens the embedding lacks) names both numbers.
    @Test func vocabularyLargerThanTheModels() throws {
        let dir = try copy()
        try edit(dir + "/tokenizer.json") { j in
            j["added_tokens"] = (j["added_tokens"] as! [[String: Any]]) + [["id": 905, "content": "<extra>", "single_word": false, "lstrip": false,
                                                                             "rstrip": false, "normalized": false, "special": true]]
        }
        let m = loadError(dir)
        #expect(m.contains("has 906 ids but config.json's vocab_size is 900"), "\(m)")
    }

    /// A shard the index names but the directory lacks, and a tensor that no parameter claims.
    @Test func missingShardAndUnclaimedTensor() throws {
        let sharded = try copy("qwen2-tiny-sharded")
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sharded + "/model.safetensors.index.json"))) as! [String: Any]
        let shard = Set((index["weight_map"] as! [String: String]).values).sorted()[1]
        try FileManager.default.removeItem(atPath: sharded + "/" + shard)
        let m = loadError(sharded)
        #expect(m.contains(shard) && m.contains("model.safetensors.index.json"), "\(m)")

        let dir = try copy()
        let decoder = try ModelDirectory.loadDecoder(dir)
        var extra = [Float](repeating: 0, count: 4)
        try extra.withUnsafeMutableBufferPointer { b in
            try SafeTensorsWriter.write(decoder.parameters.safeTensorsEntries + [.init(name: "model.layers.0.mlp.extra.weight", shape: [4], data: UnsafeBufferPointer(b))],
                                        to: dir + "/model.safetensors")
        }
        let u = loadError(dir)
        #expect(u.contains("model.safetensors: 1 tensor(s) that no parameter of the model claims: 'model.layers.0.mlp.extra.weight'"), "\(u)")
    }

    /// Config keys this project does not implement are refused by name: an unknown rope_scaling
    /// type, a sliding window that would be used (Mistral's way, or Qwen2's switched on), a key it
    /// has never heard of. Qwen2's unused `sliding_window` (use_sliding_window false) loads.
    @Test func refusedConfigKeys() throws {
        for (fixture, key, value, expected) in [("qwen2-tiny", "rope_scaling", ["rope_type": "yarn", "factor": 4.0] as Any, "'yarn'"),
                                                ("llama3-tiny", "sliding_window", 16 as Any, "'sliding_window' is 16"),
                                                ("qwen2-tiny", "use_sliding_window", true as Any, "'use_sliding_window' is true"),
                                                ("qwen2-tiny", "moe_experts", 8 as Any, "'moe_experts' is not a key")] {
            let dir = try copy(fixture)
            try edit(dir + "/config.json") { $0[key] = value }
            let m = loadError(dir)
            #expect(m.contains("config.json") && m.contains(expected), "\(key): \(m)")
        }
        let qwen = try copy()
        try edit(qwen + "/config.json") { $0["sliding_window"] = 16; $0["use_sliding_window"] = false }
        #expect(loadError(qwen) == "no error")
    }
}
