import Data
import Foundation
import Infer
import Model
import SafeTensors
import TestSupport
import Testing
import Tokenizer

/// Hugging Face directories exactly as `save_pretrained` writes them, against transformers'
/// own outputs (scripts/fixtures/make_hf_fixtures.py): greedy `generate`, `apply_chat_template`,
/// last-position logits of plain, sharded and bf16 copies, and LLaMA-3's rope scaling.
struct HuggingFaceCheckpointTests {
    struct GenerateCase: Decodable {
        let kind: String
        let text: String
        let promptIDs: [Int32]
        let generatedIDs: [Int32]
        enum CodingKeys: String, CodingKey { case kind, text, promptIDs = "prompt_ids", generatedIDs = "generated_ids" }
    }
    struct Qwen2Cases: Decodable {
        let eosTokenID: [Int]
        let cases: [GenerateCase]
        enum CodingKeys: String, CodingKey { case eosTokenID = "eos_token_id", cases }
    }
    struct GenerateFixture: Decodable { let qwen2: Qwen2Cases; let llama: [GenerateCase] }
    struct Message: Decodable { let role: String; let content: String }
    struct ChatCase: Decodable { let template: String; let messages: [Message]; let prompt: String }
    struct ChatFixture: Decodable { let templates: [String: String]; let cases: [ChatCase] }
    struct LlamaChat: Decodable { let messages: [Message]; let ids: [Int32] }
    struct LlamaChats: Decodable {
        let chats: [LlamaChat]
        let vicunaChats: [LlamaChat]
        enum CodingKeys: String, CodingKey { case chats, vicunaChats = "vicuna_chats" }
    }

    static func load<T: Decodable>(_ name: String) -> T {
        try! JSONDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("hf/" + name))))
    }

    static func turns(_ messages: [Message]) -> [Turn] {
        messages.map { Turn($0.role == "user" ? .human : $0.role == "assistant" ? .gpt : .system, $0.content) }
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    /// Greedy ids equal `model.generate`'s for plain and chat prompts (the model's own chat
    /// template), the prompt ids equal `tokenizer(prompt)` / `apply_chat_template`, and a
    /// generation that hits an id of generation_config.json's `eos_token_id` list stops there
    /// with the id included.
    @Test func greedyGenerationEqualsTransformers() throws {
        let fixture: GenerateFixture = Self.load("generate_cases.json")
        var stopped = 0
        for (directory, cases) in [("qwen2-tiny", fixture.qwen2.cases), ("llama-tiny", fixture.llama)] {
            let model = try LoadedModel(directory: TestPaths.fixture("hf/" + directory))
            for c in cases {
                let prompt: GenerationPrompt = c.kind == "chat" ? .chat(c.text, .auto) : .text(c.text)
                let record = try Generator.complete(model, prompt: prompt, maxNewTokens: 10, options: SamplingOptions()) { _ in }
                #expect(record.promptIDs == c.promptIDs, "\(directory) \(c.kind) \(c.text)")
                #expect(record.generatedIDs == c.generatedIDs, "\(directory) \(c.kind) \(c.text)")
                #expect((record.finishReason == .stop) == (c.generatedIDs.count < 10))
                if record.finishReason == .stop { stopped += 1 }
            }
        }
        #expect(stopped >= 1, "a case that stops on EOS")
        let qwen = try LoadedModel(directory: TestPaths.fixture("hf/qwen2-tiny"))
        #expect(qwen.stopTokens == Set(fixture.qwen2.eosTokenID.map(Int32.init)))
    }

    /// Each template renders as `apply_chat_template(..., add_generation_prompt=True)`, recognised
    /// from its Jinja text (Qwen2's default system prompt included).
    @Test func chatTemplatesRenderAsTransformers() throws {
        let fixture: ChatFixture = Self.load("chat_cases.json")
        // ChatML's markers are single ids in the Qwen2 tokenizer, <s> and </s> in the LLaMA one.
        let qwen = try TokenizerFiles.load(directory: TestPaths.fixture("hf/qwen2-tiny"))
        let llama = try TokenizerFiles.load(directory: TestPaths.fixture("hf/llama-tiny"))
        #expect(Set(fixture.cases.map(\.template)) == ["qwen2", "chatml", "llama2", "vicuna"])
        for c in fixture.cases {
            let tokenizer = ["qwen2", "chatml"].contains(c.template) ? qwen : llama
            let format = try ChatFormat.recognizing(fixture.templates[c.template]!, file: "tokenizer_config.json", tokenizer: tokenizer)
            #expect(try format.generationPrompt(Self.turns(c.messages)) == c.prompt, "\(c.template): \(c.messages.map(\.content))")
        }
        let qwen2 = try ChatFormat.recognizing(fixture.templates["qwen2"]!, file: "f", tokenizer: qwen)
        #expect(qwen2.template == .chatml && qwen2.defaultSystem == "You are a helpful assistant.")
        #expect(try ChatFormat.recognizing(fixture.templates["chatml"]!, file: "f", tokenizer: qwen).defaultSystem == nil)
        // ChatML needs its markers as single ids: on the LLaMA tokenizer it is an error, not a silent split.
        let m = message { _ = try ChatFormat.recognizing(fixture.templates["chatml"]!, file: "f", tokenizer: llama) }
        #expect(m.contains("'<|im_start|>', which this tokenizer does not encode as one id"), "\(m)")
    }

    /// LLaMA-2 chat ids equal `apply_chat_template(tokenize=True)`: BOS from the template text, no second one.
    @Test func llamaChatIdsEqualTransformers() throws {
        let fixture: LlamaChats = Self.load("llama_tokenizer_cases.json")
        let tokenizer = try TokenizerFiles.load(directory: TestPaths.fixture("hf/llama-tiny"))
        let format = try ChatFormat.resolve(nil, tokenizer: tokenizer)
        #expect(format.template == .llama2 && !fixture.chats.isEmpty)
        for c in fixture.chats { #expect(try format.promptIDs(Self.turns(c.messages), tokenizer: tokenizer) == c.ids) }
        // Vicuna's template on the same tokenizer: no BOS, as apply_chat_template adds no special tokens.
        let templates: ChatFixture = Self.load("chat_cases.json")
        let vicuna = try ChatFormat.recognizing(templates.templates["vicuna"]!, file: "f", tokenizer: tokenizer)
        #expect(vicuna.template == .vicuna && !fixture.vicunaChats.isEmpty)
        for c in fixture.vicunaChats { #expect(try vicuna.promptIDs(Self.turns(c.messages), tokenizer: tokenizer) == c.ids) }
        #expect(message { _ = try format.render([Turn(.human, "a"), Turn(.human, "b")]) }.contains("must alternate"))
    }

    /// Last-position logits equal transformers' for the plain, sharded (index + shards) and bf16
    /// copies, and for a LLaMA-3 model (rope_scaling llama3, head_dim ≠ hidden/heads, mlp_bias).
    @Test func logitsEqualTransformers() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("hf/logits_cases.json")))
        let cases = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        for name in ["qwen2-tiny", "qwen2-tiny-sharded", "qwen2-tiny-bf16", "llama3-tiny"] {
            let entry = cases[name] as! [String: Any]
            let ids = (entry["ids"] as! [Int]).map(Int32.init), expected = (entry["logits"] as! [Double]).map(Float.init)
            let tokenizer = try TokenizerFiles.load(directory: TestPaths.fixture("hf/" + name))
            #expect(tokenizer.bosPrefix + tokenizer.encode(cases["text"] as! String) == ids, "\(name): the prompt's ids")
            let decoder = try ModelDirectory.loadDecoder(TestPaths.fixture("hf/" + name))
            let cache = try decoder.makeCache(batch: 1, capacity: ids.count)
            let logits = decoder.forward(newTokens: ids, cache: cache)
            let last = withExtendedLifetime(cache) {
                Array(UnsafeBufferPointer(start: logits.data + (logits.rowCount - 1) * expected.count, count: expected.count))
            }
            let error = zip(last, expected).map { abs($0 - $1) }.max()!
            #expect(error < 1e-4, "\(name): max |Δ| \(error)")
        }
        #expect(FileManager.default.fileExists(atPath: TestPaths.fixture("hf/qwen2-tiny-sharded/model.safetensors.index.json")))
    }

    /// Written above the shard size, a checkpoint is an index and shards as save_pretrained writes
    /// them, and reads back to the same tensors; a shard missing from the index is an error naming it.
    @Test func shardsRoundTrip() throws {
        let decoder = try ModelDirectory.loadDecoder(TestPaths.fixture("hf/qwen2-tiny"))
        let dir = TestPaths.temporaryDirectory("shards")
        try ModelDirectory.save(decoder, to: dir, maxShardBytes: 40_000)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".safetensors") }.sorted()
        #expect(files.count > 2 && files.first == "model-00001-of-\(String(format: "%05d", files.count)).safetensors", "\(files)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/model.safetensors"))
        let reloaded = try ModelDirectory.loadDecoder(dir)
        for (a, b) in zip(decoder.parameters.safeTensorsEntries, reloaded.parameters.safeTensorsEntries) {
            #expect(a.name == b.name && a.shape == b.shape && Array(a.data) == Array(b.data), "\(a.name)")
        }
        try FileManager.default.removeItem(atPath: dir + "/" + files[1])
        let m = message { _ = try ModelDirectory.loadDecoder(dir) }
        #expect(m.contains(files[1]) && m.contains("model.safetensors.index.json"), "\(m)")
    }
}

/// `generate`'s inputs and its `--json` record.
struct GenerationRecordTests {
    @Test func promptIdsParse() throws {
        #expect(try GenerationPrompt.ids(parsing: "1, 2,3") == [1, 2, 3])
        for bad in ["1,x", "", "1,,2", "-1", "99999999999"] {
            #expect(throws: InferError.self, "\(bad)") { _ = try GenerationPrompt.ids(parsing: bad) }
        }
    }

    /// `{"prompt_ids", "generated_ids", "text", "finish_reason"}`, the stop token kept in the ids
    /// (as transformers' generate returns it) and left out of the text.
    @Test func recordAsTransformersReturnsIt() throws {
        let model = try LoadedModel(directory: TestPaths.fixture("hf/qwen2-tiny"))
        let record = try Generator.complete(model, prompt: .ids([670, 516, 511]), maxNewTokens: 3, options: SamplingOptions()) { _ in }
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(record)) as! [String: Any]
        #expect(Set(json.keys) == ["prompt_ids", "generated_ids", "text", "finish_reason"])
        #expect(json["prompt_ids"] as? [Int] == [670, 516, 511] && json["finish_reason"] as? String == "length")
        let stop = Generation(tokens: [5, 7, 2], finishReason: .stop)
        #expect(stop.content == [5, 7] && GenerationRecord(promptIDs: [1], generation: stop, text: "x").generatedIDs == [5, 7, 2])
    }
}
