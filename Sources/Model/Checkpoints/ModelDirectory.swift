import Foundation
import Tokenizer
import Support
import SafeTensors

/// A Hugging Face-style model directory: `config.json`, `model.safetensors`, `tokenizer.model`.
public enum ModelDirectory {
    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"
    public static let tokenizerFile = TokenizerFiles.sentencePiece

    /// Loads the decoder in `path` (of a multimodal checkpoint: its language model alone, for
    /// text-only evaluation); a missing file, a bad config or a weight whose shape differs from
    /// the config is an error naming the file and the field or tensor.
    public static func loadDecoder(_ path: String) throws -> DecoderModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError("\(path): model directory not found")
        }
        let config: DecoderConfig
        if MultimodalModel.isMultimodal(directory: path) {
            let file = path + "/" + configFile
            do {
                config = try JSONDecoder().decode(MultimodalConfig.self, from: Data(contentsOf: URL(fileURLWithPath: file))).textConfig
            } catch { throw ModelError("\(file): not a multimodal config (\(error))") }
            try config.validate(file: file + " (text_config)")
        } else {
            config = try DecoderConfig.load(path: path + "/" + configFile)
        }
        let decoder = DecoderModel(config: config)
        let weights = try SafeTensorsFile(path: path + "/" + weightsFile)
        try decoder.parameters.load(from: weights)
        return decoder
    }

    /// Writes `config.json` and `model.safetensors` into `path` (created if needed) and copies
    /// `tokenizer` in as `tokenizer.model` when given. Each file is written under a temporary
    /// name and renamed, so an interrupted save never leaves a half-written file.
    public static func save(_ decoder: DecoderModel, to path: String, tokenizer: String? = nil, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try AtomicFile.write(decoder.config.jsonData(), to: path + "/" + configFile)
        var meta = metadata
        meta["format"] = "pt"
        try SafeTensorsWriter.write(decoder.parameters.safeTensorsEntries, metadata: meta, to: path + "/" + weightsFile)
        if let tokenizer {
            guard let data = FileManager.default.contents(atPath: tokenizer) else {
                throw ModelError("\(tokenizer): tokenizer model not found")
            }
            try AtomicFile.write(data, to: path + "/" + tokenizerFile)
        }
    }
}
