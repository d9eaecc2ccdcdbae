import Foundation

/// Reads the parts of a `tokenizer.json` byte-level BPE needs, each checked: an unknown type
/// or a malformed field is an error naming the file and the field, never skipped.
struct TokenizerJSON {
    let json: [String: Any]
    let path: String

    func fail(_ field: String, _ why: String) -> TokenizerError { TokenizerError("\(path): '\(field)' \(why)") }

    /// `model`: BPE over a byte-level alphabet (no word-piece affixes, no byte fallback).
    func model() throws -> BPEModel {
        guard let m = json["model"] as? [String: Any] else { throw fail("model", "is missing") }
        let type = m["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw fail("model.type", "is '\(type)': only byte-level BPE tokenizer.json files load (WordPiece, Unigram and WordLevel do not)") }
        guard let vocab = m["vocab"] as? [String: Any] else { throw fail("model.vocab", "is missing or not an object") }
        var vocabulary: [String: Int32] = [:]
        for (token, id) in vocab {
            guard let n = id as? Int, n >= 0, n <= Int(Int32.max) else { throw fail("model.vocab", "maps '\(token)' to \(id), not an id") }
            vocabulary[token] = Int32(n)
        }
        guard let rawMerges = m["merges"] as? [Any] else { throw fail("model.merges", "is missing: a BPE model needs its merges") }
        let merges = try rawMerges.enumerated().map { i, entry -> (String, String) in
            if let s = entry as? String {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("model.merges", "entry \(i) ('\(s)') is not two tokens separated by a space") }
                return (String(parts[0]), String(parts[1]))
            }
            if let pair = entry as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            throw fail("model.merges", "entry \(i) is neither \"a b\" nor [\"a\", \"b\"]")
        }
        if let fallback = m["byte_fallback"] as? Bool, fallback {
            throw fail("model.byte_fallback", "is true: a SentencePiece-style BPE (use the directory's tokenizer.model)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = m[key] as? String, !affix.isEmpty { throw fail("model.\(key)", "is '\(affix)': word-piece affixes are not supported") }
        }
        if let dropout = m["dropout"], !(dropout is NSNull) { throw fail("model.dropout", "is set: BPE dropout is for training only") }
        return try BPEModel(vocabulary: vocabulary, merges: merges, ignoreMerges: m["ignore_merges"] as? Bool ?? false,
                            unknown: m["unk_token"] as? String, file: path)
    }

    func addedTokens() throws -> [AddedToken] {
        guard let list = json["added_tokens"] else { return [] }
        guard let entries = list as? [[String: Any]] else { throw fail("added_tokens", "is not a list of objects") }
        return try entries.enumerated().map { i, t in
            guard let id = t["id"] as? Int, let content = t["content"] as? String else {
                throw fail("added_tokens[\(i)]", "needs an integer 'id' and a string 'content'")
            }
            guard id >= 0, id <= Int(Int32.max) else { throw fail("added_tokens[\(i)].id", "is \(id), not a token id") }
            return AddedToken(id: Int32(id), content: content, special: t["special"] as? Bool ?? false, lstrip: t["lstrip"] as? Bool ?? false,
                              rstrip: t["rstrip"] as? Bool ?? false, singleWord: t["single_word"] as? Bool ?? false,
                              normalized: t["normalized"] as? Bool ?? false)
        }
    }

    /// `normalizer`: none, or NFC (alone or in a Sequence).
    func normalizerIsNFC() throws -> Bool {
        guard let n = json["normalizer"], !(n is NSNull) else { return false }
        guard let o = n as? [String: Any], let type = o["type"] as? String else { throw fail("normalizer", "has no 'type'") }
        switch type {
        case "NFC": return true
        case "Sequence":
            let steps = o["normalizers"] as? [[String: Any]] ?? []
            guard steps.allSatisfy({ $0["type"] as? String == "NFC" }) else {
                throw fail("normalizer", "is a Sequence of \(steps.compactMap { $0["type"] as? String }): only NFC is supported")
            }
            return !steps.isEmpty
        default: throw fail("normalizer.type", "is '\(type)': only NFC is supported")
        }
    }

    /// `pre_tokenizer`: Split (regex, Isolated), Digits and ByteLevel, alone or in a Sequence.
    func preTokenizers() throws -> [PreTokenizerStep] {
        guard let p = json["pre_tokenizer"] as? [String: Any] else { throw fail("pre_tokenizer", "is missing: byte-level BPE needs a ByteLevel pre-tokenizer") }
        let steps = p["type"] as? String == "Sequence" ? (p["pretokenizers"] as? [[String: Any]] ?? []) : [p]
        let parsed = try steps.enumerated().map { try step($1, field: "pre_tokenizer" + (steps.count > 1 ? ".pretokenizers[\($0)]" : "")) }
        guard parsed.contains(where: { if case .byteLevel = $0 { true } else { false } }) else {
            throw fail("pre_tokenizer", "has no ByteLevel step: this is not a byte-level BPE")
        }
        return parsed
    }

    private func step(_ o: [String: Any], field: String) throws -> PreTokenizerStep {
        switch o["type"] as? String {
        case "Split":
            let behavior = o["behavior"] as? String ?? "Isolated"
            guard behavior == "Isolated" else { throw fail(field + ".behavior", "is '\(behavior)': only Isolated is supported") }
            guard (o["invert"] as? Bool ?? false) == false else { throw fail(field + ".invert", "is true: not supported") }
            let pattern = o["pattern"] as? [String: Any]
            if let regex = pattern?["Regex"] as? String { return .split(try compile(regex, field: field + ".pattern.Regex")) }
            if let literal = pattern?["String"] as? String { return .split(try compile(NSRegularExpression.escapedPattern(for: literal), field: field)) }
            throw fail(field + ".pattern", "needs a 'Regex' or 'String'")
        case "Digits":
            return .digits(individually: o["individual_digits"] as? Bool ?? false)
        case "ByteLevel":
            let split = (o["use_regex"] as? Bool ?? true) ? try compile(PreTokenizerStep.gpt2Pattern, field: field) : nil
            return .byteLevel(addPrefixSpace: o["add_prefix_space"] as? Bool ?? false, split: split)
        case let type:
            throw fail(field + ".type", "is '\(type ?? "nil")': only Split, Digits and ByteLevel pre-tokenizers are supported")
        }
    }

    /// A `tokenizers` (Oniguruma) pattern as ICU compiles it: `\s`/`\S` as Unicode White_Space,
    /// which is what Oniguruma means by them (ICU's `\s` leaves out U+000B and U+0085).
    func compile(_ pattern: String, field: String) throws -> NSRegularExpression {
        let icu = pattern.replacingOccurrences(of: #"\s"#, with: #"\p{White_Space}"#).replacingOccurrences(of: #"\S"#, with: #"\P{White_Space}"#)
        do { return try NSRegularExpression(pattern: icu) } catch { throw fail(field, "is not a valid regex (\(pattern))") }
    }

    /// `decoder` must be ByteLevel (alone or in a Sequence with ByteLevel steps).
    func checkDecoder() throws {
        guard let d = json["decoder"] as? [String: Any], let type = d["type"] as? String else { throw fail("decoder", "is missing") }
        let types = type == "Sequence" ? (d["decoders"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String } : [type]
        guard !types.isEmpty, types.allSatisfy({ $0 == "ByteLevel" }) else { throw fail("decoder", "is \(types): only ByteLevel decodes byte-level BPE") }
    }

    /// The token prepended to every sequence: `tokenizer_config.json`'s `add_bos_token` with its
    /// `bos_token` when it says (transformers' Llama tokenizers rebuild the post-processor from it),
    /// else the post-processor's template (LLaMA-3); nil for none (Qwen2, GPT-2).
    func prependedToken(config: TokenizerConfig) throws -> String? {
        if let add = config.addBOSToken {
            guard add else { return nil }
            guard let bos = config.bosToken else { throw TokenizerError("\(config.configPath ?? path): 'add_bos_token' is true but there is no 'bos_token'") }
            return bos
        }
        guard let p = json["post_processor"] as? [String: Any] else { return nil }
        let steps = p["type"] as? String == "Sequence" ? (p["processors"] as? [[String: Any]] ?? []) : [p]
        var prepended: String?
        for s in steps {
            switch s["type"] as? String {
            case "ByteLevel": continue
            case "TemplateProcessing":
                let single = s["single"] as? [[String: Any]] ?? []
                guard let sequence = single.firstIndex(where: { $0["Sequence"] != nil }) else { throw fail("post_processor.single", "has no Sequence") }
                guard sequence == single.count - 1 else {
                    throw fail("post_processor.single", "appends tokens after the sequence: not supported (prompts would need them)")
                }
                let before = single[..<sequence].compactMap { ($0["SpecialToken"] as? [String: Any])?["id"] as? String }
                guard before.count <= 1 else { throw fail("post_processor.single", "prepends \(before.count) tokens: only a BOS is supported") }
                prepended = before.first
            case let type: throw fail("post_processor.type", "is '\(type ?? "nil")': only ByteLevel and TemplateProcessing are supported")
            }
        }
        return prepended
    }
}
