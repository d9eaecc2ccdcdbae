import Foundation
import Support
import SafeTensors

/// Fills a model's parameter sets from a directory's weights (`model.safetensors`, or an
/// index and its shards) and accounts for every tensor in the files: one that no parameter
/// claims is an error naming it, since a weight the model silently drops (a bias the config
/// did not announce, a layer past `num_hidden_layers`) would make it compute something else.
enum CheckpointWeights {
    /// Tensors a checkpoint may hold that are not weights: the rotary inverse frequencies older
    /// transformers versions saved, recomputed here from the config.
    static let buffers = ["*.rotary_emb.inv_freq"]

    /// Loads `sets` from the weights of `directory`. `others`: glob patterns of tensors that
    /// belong to parts not being loaded (a multimodal checkpoint's tower, when its decoder is
    /// loaded alone). `tiedEmbedding`: with tied embeddings, an `lm_head.weight` in the file is
    /// accepted when it equals the embedding, and is an error otherwise.
    static func load(_ sets: [Parameters], directory: String, others: [String] = [], tiedEmbedding: String? = nil) throws {
        try load(sets, from: try open(directory: directory), others: others, tiedEmbedding: tiedEmbedding)
    }

    /// The weights of `directory`, under this project's names whatever layout wrote them (``WeightLayout``).
    static func open(directory: String) throws -> SafeTensorsCheckpoint {
        let weights = try SafeTensorsCheckpoint(directory: directory)
        let layout = WeightLayout.detect(weights.names)
        return layout == .native ? weights : try weights.renaming(layout.internalName)
    }

    /// The tensor names of `directory`'s weights as its files hold them.
    static func names(directory: String) throws -> [String] { try SafeTensorsCheckpoint(directory: directory).names }

    /// Loads `sets` from `weights` (``load(_:directory:others:tiedEmbedding:)``).
    static func load(_ sets: [Parameters], from weights: SafeTensorsCheckpoint, others: [String] = [], tiedEmbedding: String? = nil) throws {
        for p in sets { try p.load(from: weights) }
        var unclaimed = weights.names.filter { name in
            !sets.contains { $0.contains(name) } && !(buffers + others).contains { Glob.matches(name, pattern: $0) }
        }
        if let embedding = tiedEmbedding, let i = unclaimed.firstIndex(of: "lm_head.weight") {
            let head = try weights.floats("lm_head.weight"), table = try weights.floats(embedding)
            guard head == table else {
                throw ModelError("\(weights.path): tensor 'lm_head.weight' differs from '\(embedding)', but the config says tie_word_embeddings: true (set it to false to load both)")
            }
            unclaimed.remove(at: i)
        }
        guard unclaimed.isEmpty else {
            let shown = unclaimed.prefix(5).map { "'\(weights.storedName($0))'" }.joined(separator: ", ")
            throw ModelError("\(weights.path): \(unclaimed.count) tensor(s) that no parameter of the model claims: \(shown)\(unclaimed.count > 5 ? ", ..." : "") (does config.json describe this checkpoint?)")
        }
    }
}
