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
    func copy(_ name: String = "qwen2-tiny", from folder: String = "hf") throws -> String {
        let dir = TestPaths.temporaryDirectory("hf-bad")
        let source = TestPaths.fixture(folder + "/" + name)
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

    /// Ids that are no token ids (beyond Int32, negative) and an EOS the vocabulary lacks are errors, not crashes.
    @Test func impossibleIds() throws {
        for id in [4_294_967_296, -5] {
            let dir = try copy()
            try edit(dir + "/tokenizer.json") { j in
                j["added_tokens"] = (j["added_tokens"] as! [[String: Any]]) + [["id": id, "content": "<x>", "special": true]]
            }
            let m = loadError(dir)
            #expect(m.contains("tokenizer.json: 'added_tokens[3].id' is \(id), not a token id"), "\(m)")
        }
        let g = try copy()
        try edit(g + "/generation_config.json") { $0["eos_token_id"] = [2, 4_294_967_296] }
        #expect(loadError(g).contains("generation_config.json: 'eos_token_id' should be a token id or a list of ids"))
        let c = try copy()
        try edit(c + "/config.json") { $0["eos_token_id"] = -1 }
        #expect(loadError(c).contains("config.json: 'eos_token_id' -1 is not a token id"), "\(loadError(c))")
        let e = try copy()
        try edit(e + "/tokenizer_config.json") { $0["eos_token"] = "<|no_such_token|>" }
        #expect(loadError(e).contains("tokenizer_config.json: 'eos_token' is '<|no_such_token|>'"), "\(loadError(e))")
    }

    /// A Hugging Face directory without a chat template (a base model) needs `template:`, as
    /// transformers refuses apply_chat_template; Qwen3-style `<think>` templates are not rendered
    /// as plain ChatML; a template list without a default is an error.
    @Test func chatTemplatesThatAreMissingOrUnsupported() throws {
        let none = try copy()
        try edit(none + "/tokenizer_config.json") { $0["chat_template"] = nil }
        try? FileManager.default.removeItem(atPath: none + "/chat_template.jinja")
        let tokenizer = try TokenizerFiles.load(directory: none)
        let m = message { _ = try ChatFormat.resolve(nil, tokenizer: tokenizer) }
        #expect(m.contains("tokenizer_config.json: no chat_template") && m.contains("template:"), "\(m)")
        #expect(try ChatFormat.resolve(.chatml, tokenizer: tokenizer).template == .chatml)
        let think = try copy()
        try edit(think + "/tokenizer_config.json") {
            $0["chat_template"] = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['role'] == 'assistant' %}<think>\n\n</think>\n\n{% endif %}{{ m['content'] }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
        }
        let t = message { _ = try ChatFormat.resolve(nil, tokenizer: try TokenizerFiles.load(directory: think)) }
        #expect(t.contains("chat_template is not one mllm-cl renders"), "\(t)")
        let list = try copy()
        try edit(list + "/tokenizer_config.json") { $0["chat_template"] = [["name": "tool_use", "template": "x"]] }
        #expect(message { _ = try TokenizerFiles.load(directory: list) }.contains("'chat_template' is a list without a 'default' template"))
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
                                                ("qwen2-tiny", "moe_experts", 8 as Any, "'moe_experts' is not a key"),
                                                ("llama3-tiny", "rope_interleaved", true as Any, "'rope_interleaved' is true")] {
            let dir = try copy(fixture)
            try edit(dir + "/config.json") { $0[key] = value }
            let m = loadError(dir)
            #expect(m.contains("config.json") && m.contains(expected), "\(key): \(m)")
        }
        let qwen = try copy()
        try edit(qwen + "/config.json") { $0["sliding_window"] = 16; $0["use_sliding_window"] = false }
        #expect(loadError(qwen) == "no error")
        // SmolLM's nanotron keys: rotate-half RoPE (rope_interleaved false) and a metadata marker load.
        let smol = try copy("llama3-tiny")
        try edit(smol + "/config.json") { $0["rope_interleaved"] = false; $0["is_llama_config"] = true }
        #expect(loadError(smol) == "no error")
    }

    // MARK: Vision towers and LLaVA

    func copyVision(_ name: String) throws -> String { try copy(name, from: "hf-vision") }

    @Test func llavaWithoutVisionConfig() throws {
        let dir = try copyVision("llava-tiny")
        try edit(dir + "/config.json") { $0["vision_config"] = nil }
        let m = loadError(dir)
        #expect(m.contains("config.json: missing required key 'vision_config'"), "\(m)")
    }

    @Test func unknownActivationNames() throws {
        let dir = try copyVision("llava-tiny")
        try edit(dir + "/config.json") { j in var v = j["vision_config"] as! [String: Any]; v["hidden_act"] = "relu"; j["vision_config"] = v }
        let m = loadError(dir)
        #expect(m.contains("config.json") && m.contains("'hidden_act' \"relu\" is not one of quick_gelu"), "\(m)")
        let dir2 = try copyVision("llava-tiny")
        try edit(dir2 + "/config.json") { $0["projector_hidden_act"] = "swish" }
        let m2 = loadError(dir2)
        #expect(m2.contains("config.json") && m2.contains("'projector_hidden_act' \"swish\""), "\(m2)")
        let tower = try copyVision("clip-vision-tiny")
        try edit(tower + "/config.json") { $0["hidden_act"] = "silu" }
        let m3 = message { _ = try PretrainedTower.open(tower) }
        #expect(m3.contains(tower + "/config.json") && m3.contains("'hidden_act' \"silu\""), "\(m3)")
    }

    @Test func imageTokenOutsideTheVocabulary() throws {
        let dir = try copyVision("llava-tiny")
        try edit(dir + "/config.json") { $0["image_token_index"] = 400 }
        let m = loadError(dir)
        #expect(m.contains("config.json: 'image_token_index' 400 is outside the vocabulary of 400"), "\(m)")
        let dir2 = try copyVision("llava-tiny")
        try edit(dir2 + "/config.json") { $0["image_token_index"] = nil; $0["image_token_id"] = 3 }
        #expect(loadError(dir2) == "no error", "image_token_id is read too")
    }

    @Test func imageSeqLengthAndProcessorSizeMustMatchTheTower() throws {
        let dir = try copyVision("llava-tiny")
        try edit(dir + "/config.json") { $0["image_seq_length"] = 26 }
        let m = loadError(dir)
        #expect(m.contains("'image_seq_length' is 26, but the tower gives 25 visual tokens"), "\(m)")
        let dir2 = try copyVision("llava-tiny")
        try edit(dir2 + "/preprocessor_config.json") { $0["crop_size"] = ["height": 32, "width": 32]; $0["size"] = ["shortest_edge": 32] }
        let m2 = loadError(dir2)
        #expect(m2.contains("preprocessor_config.json: the processed images are 32x32") && m2.contains("image_size is 30"), "\(m2)")
        let dir3 = try copyVision("llava-tiny")
        try edit(dir3 + "/preprocessor_config.json") { $0["resample"] = 2 }
        let m3 = loadError(dir3)
        #expect(m3.contains("preprocessor_config.json: 'resample' is 2"), "\(m3)")
    }

    /// A projector checkpoint whose input width differs from the tower's.
    @Test func projectorWiderThanTheTower() throws {
        let projector = Projector(kind: .mlp2xGELU, inputSize: 64, outputSize: 48)
        let m = message { try projector.load(fromCheckpoint: TestPaths.fixture("hf-vision/llava-tiny"), towerWidth: 64, towerSource: "siglip/config.json") }
        #expect(m.contains("model.safetensors") && m.contains("'multi_modal_projector.linear_1.weight' has shape [48, 32]")
                && m.contains("the tower (siglip/config.json) is 64 wide"), "\(m)")
    }

    /// A LLaVA whose config says another tower width than its tensors have.
    @Test func llavaTensorsThatDisagreeWithItsConfig() throws {
        let dir = try copyVision("llava-tiny")
        try edit(dir + "/config.json") { j in var v = j["vision_config"] as! [String: Any]; v["hidden_size"] = 64; j["vision_config"] = v }
        let m = loadError(dir)
        #expect(m.contains("model.safetensors") && m.contains("vision_tower.vision_model.") && m.contains("shape"), "\(m)")
    }

    /// transformers 5 keeps RoPE's theta in `rope_parameters`: a class default must not replace it.
    @Test func ropeParametersThetaIsKept() throws {
        let dir = try copyVision("llava-tiny")
        try edit(dir + "/config.json") { j in
            var t = j["text_config"] as! [String: Any]
            t["rope_parameters"] = ["rope_theta": 1_000_000.0, "rope_type": "default"]
            t["rope_theta"] = nil
            j["text_config"] = t
        }
        #expect(try LoadedModel(directory: dir).decoder.config.ropeTheta == 1_000_000)
    }

    /// Valid JSON with a fractional or huge number where an integer belongs names the key
    /// (Foundation's decoder says only "not valid JSON").
    @Test func fractionalOrHugeIntegerNamesTheKey() throws {
        let dir = try copy()
        try edit(dir + "/config.json") { $0["hidden_size"] = 64.5 }
        let m = loadError(dir)
        #expect(m.contains("config.json: 'hidden_size' is 64.5: an integer is expected there"), "\(m)")
        let dir2 = try copy()
        try edit(dir2 + "/config.json") { $0["num_hidden_layers"] = 1e30 }
        let m2 = loadError(dir2)
        #expect(m2.contains("'num_hidden_layers' is") && m2.contains("an integer is expected there"), "\(m2)")
    }
}

