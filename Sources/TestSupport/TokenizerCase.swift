/// One string of the tokenizer fixtures (scripts/fixtures/make_hf_fixtures.py): its ids as the
/// reference library encodes the text alone, as `tokenizer(text)` does (special tokens added),
/// and the decoding of the ids.
public struct TokenizerCase: Decodable, Sendable {
    public let text: String
    public let ids: [Int32]
    public let withSpecialTokens: [Int32]
    public let decoded: String
    enum CodingKeys: String, CodingKey { case text, ids, withSpecialTokens = "with_special_tokens", decoded }
}
