import Foundation
import Tokenizer
import Support
import SafeTensors

/// A Hugging Face-style model directory: `config.json`, the weights (`model.safetensors`, or
/// `model.safetensors.index.json` and its shards), and the tokenizer (`tokenizer.model` or
/// `tokenizer.json`, with `tokenizer_config.json`).
public enum ModelDirectory {
    public static let configFile = "config.json"
    public static let tokenizerFile = TokenizerFiles.sentencePiece

    /// Loads the decoder in `path` (of a multimodal checkpoint: its language model alone, for
    /// text-only evaluation); a missing file, a bad config or a weight whose shape differs from
    /// the config is an error naming the file and the field or tensor.
    public static func loadDecoder(_ path: String) throws -> DecoderModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError("\(path): model directory not found")
        }
        let multimodal = MultimodalModel.isMultimodal(directory: path)
        let config = multimodal ? try MultimodalConfig.load(path: path + "/" + configFile).textConfig
                                : try DecoderConfig.load(path: path + "/" + configFile)
        let decoder = DecoderModel(config: config)
        // Of a multimodal checkpoint, the tower's and projector's tensors are left in the file.
        try CheckpointWeights.load([decoder.parameters], from: CheckpointWeights.open(directory: path), others: multimodal ? ["*"] : [],
                                   tiedEmbedding: config.tieWordEmbeddings ? "model.embed_tokens.weight" : nil)
        return decoder
    }

    /// Throws unless every id of `tokenizer` has an embedding row (`vocab_size` of `config.json`
    /// at least the tokenizer's size), naming both numbers and both files.
    public static func checkVocabulary(_ tokenizer: any TextTokenizer, vocabSize: Int, directory: String) throws {
        guard tokenizer.vocabularySize <= vocabSize else {
            throw ModelError("\(directory): the tokenizer (\((tokenizer.path as NSString).lastPathComponent)) has \(tokenizer.vocabularySize) ids but \(configFile)'s vocab_size is \(vocabSize): ids from \(vocabSize) on would have no embedding row")
        }
    }

    /// Writes `config.json` and the weights (`SafeTensorsCheckpoint.write`: sharded above
    /// `maxShardBytes`) into `path` (created if needed) and copies `tokenizer` in as
    /// `tokenizer.model` when given. Each file is written under a temporary name and renamed,
    /// so an interrupted save never leaves a half-written file.
    public static func save(_ decoder: DecoderModel, to path: String, tokenizer: String? = nil, metadata: [String: String] = [:],
                            maxShardBytes: Int = SafeTensorsCheckpoint.defaultMaxShardBytes) throws {
        try OutputPath.createDirectory(path)
        try AtomicFile.write(decoder.config.jsonData(), to: path + "/" + configFile)
        var meta = metadata
        meta["format"] = "pt"
        try SafeTensorsCheckpoint.write(decoder.parameters.safeTensorsEntries, metadata: meta, into: path, maxShardBytes: maxShardBytes)
        if let tokenizer {
            guard let data = FileManager.default.contents(atPath: tokenizer) else {
                throw ModelError("\(tokenizer): tokenizer model not found")
            }
            try AtomicFile.write(data, to: path + "/" + tokenizerFile)
        }
    }
}
