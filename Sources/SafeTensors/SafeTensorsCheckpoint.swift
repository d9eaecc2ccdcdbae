import Foundation
import Support

/// A model's weights as a Hugging Face directory holds them: one `model.safetensors`, or a
/// `model.safetensors.index.json` whose `weight_map` names, per tensor, the shard holding it
/// (`model-00001-of-00003.safetensors`, ...), as `save_pretrained` writes above `max_shard_size`.
///
/// Opening checks the whole set before any tensor is read: every shard the index names must
/// exist and be a valid safetensors file, the index and the shards must agree, and no tensor
/// may appear in two shards.
public final class SafeTensorsCheckpoint: @unchecked Sendable {
    public static let singleFile = "model.safetensors"
    public static let indexFile = "model.safetensors.index.json"
    /// Above this many bytes of tensor data, `write` shards (Hugging Face's default `max_shard_size`, 5 GB).
    public static let defaultMaxShardBytes = 5_000_000_000

    /// The file the weights were named in (`model.safetensors` or the index), for messages.
    public let path: String
    /// The files, in shard order.
    public let files: [SafeTensorsFile]
    private let owner: [String: SafeTensorsFile]
    /// For a renamed view (``renaming(_:)``): a tensor's name in its file, by its name here.
    private let stored: [String: String]

    /// Whether `directory` holds weights in either layout.
    public static func present(in directory: String) -> Bool {
        [singleFile, indexFile].contains { FileManager.default.fileExists(atPath: directory + "/" + $0) }
    }

    /// Opens the weights of `directory`: `model.safetensors` when present (as transformers
    /// prefers it), else the index and its shards.
    public init(directory: String) throws {
        let single = directory + "/" + Self.singleFile, index = directory + "/" + Self.indexFile
        if FileManager.default.fileExists(atPath: single) || !FileManager.default.fileExists(atPath: index) {
            let file = try SafeTensorsFile(path: single)
            path = single
            files = [file]
            owner = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, file) })
            stored = [:]
            return
        }
        path = index
        let weightMap = try Self.weightMap(index)
        var opened: [String: SafeTensorsFile] = [:], owner: [String: SafeTensorsFile] = [:]
        for shard in Set(weightMap.values).sorted() {
            guard FileManager.default.fileExists(atPath: directory + "/" + shard) else {
                throw SafeTensorsError(.missingShard, file: index, "shard '\(shard)' named in weight_map is missing from \(directory)")
            }
            let file = try SafeTensorsFile(path: directory + "/" + shard)
            opened[shard] = file
            for t in file.tensors {
                if let other = owner[t.name] {
                    throw SafeTensorsError(.duplicateTensor, file: file.path, tensor: t.name, "also in \(other.path)")
                }
                owner[t.name] = file
            }
        }
        for (name, shard) in weightMap.sorted(by: { $0.key < $1.key }) where owner[name] !== opened[shard] {
            throw SafeTensorsError(.invalidIndex, file: index, tensor: name, "weight_map puts it in '\(shard)', which does not hold it")
        }
        for name in owner.keys.sorted() where weightMap[name] == nil {
            throw SafeTensorsError(.invalidIndex, file: owner[name]!.path, tensor: name, "not listed in \(index)'s weight_map")
        }
        files = Set(weightMap.values).sorted().map { opened[$0]! }
        self.owner = owner
        stored = [:]
    }

    private init(path: String, files: [SafeTensorsFile], owner: [String: SafeTensorsFile], stored: [String: String]) {
        self.path = path
        self.files = files
        self.owner = owner
        self.stored = stored
    }

    /// The same tensors seen under other names: `rename` maps a name in the files to the name
    /// it is read by (nil keeps it). Two tensors renamed to one name are an error.
    public func renaming(_ rename: (String) -> String?) throws -> SafeTensorsCheckpoint {
        var owner: [String: SafeTensorsFile] = [:], stored: [String: String] = [:]
        for name in names {
            let original = self.stored[name] ?? name, new = rename(name) ?? name
            if owner[new] != nil {
                throw SafeTensorsError(.duplicateTensor, file: path, tensor: original, "renamed to '\(new)', which another tensor also maps to")
            }
            owner[new] = self.owner[name]
            if new != original { stored[new] = original }
        }
        return SafeTensorsCheckpoint(path: path, files: files, owner: owner, stored: stored)
    }

    /// The name tensor `name` has in its file.
    public func storedName(_ name: String) -> String { stored[name] ?? name }

    /// `weight_map` of index file `path`: tensor name → shard file name.
    private static func weightMap(_ path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw SafeTensorsError(.fileNotFound, file: path, "cannot read") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw SafeTensorsError(.invalidIndex, file: path, "not a JSON object")
        }
        guard let map = object["weight_map"] as? [String: Any] else { throw SafeTensorsError(.invalidIndex, file: path, "'weight_map' missing or not an object") }
        var out: [String: String] = [:]
        for (name, value) in map {
            guard let shard = value as? String, !shard.isEmpty, !shard.contains("/") else {
                throw SafeTensorsError(.invalidIndex, file: path, tensor: name, "'weight_map' entry should be a file name in the same directory")
            }
            out[name] = shard
        }
        return out
    }

    /// Every tensor name, sorted.
    public var names: [String] { owner.keys.sorted() }

    public func contains(_ name: String) -> Bool { owner[name] != nil }

    /// The header entry of `name`; throws `missingTensor` naming `path` when no file holds it.
    public func info(_ name: String) throws -> TensorInfo {
        guard let file = owner[name] else { throw SafeTensorsError(.missingTensor, file: path, tensor: name, "not in file") }
        return try file.info(storedName(name))
    }

    /// Converts tensor `name` to Float32 into `destination` (`SafeTensorsFile.read`).
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>, shape: [Int]? = nil) throws {
        guard let file = owner[name] else { throw SafeTensorsError(.missingTensor, file: path, tensor: name, "not in file") }
        try file.read(storedName(name), into: destination, shape: shape)
    }

    /// Tensor `name` as a new Float32 array.
    public func floats(_ name: String) throws -> [Float] {
        guard let file = owner[name] else { throw SafeTensorsError(.missingTensor, file: path, tensor: name, "not in file") }
        return try file.floats(storedName(name))
    }
}

extension SafeTensorsCheckpoint {
    /// Writes `entries` into `directory` as Hugging Face does: one `model.safetensors` when
    /// their data fit in `maxShardBytes`, else shards of at most that size (a larger tensor
    /// gets a shard of its own), filled in order, and the index. Each file is written
    /// atomically; the other layout's files and stale shards are removed only after the new
    /// set is complete.
    public static func write(_ entries: [SafeTensorsWriter.Entry], metadata: [String: String] = [:], into directory: String,
                             maxShardBytes: Int = defaultMaxShardBytes) throws {
        precondition(maxShardBytes > 0)
        var shards: [[SafeTensorsWriter.Entry]] = [[]], size = 0
        for e in entries {
            let bytes = 4 * e.data.count
            if size + bytes > maxShardBytes && !shards[shards.count - 1].isEmpty { shards.append([]); size = 0 }
            shards[shards.count - 1].append(e)
            size += bytes
        }
        let fm = FileManager.default
        let stale = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { $0 == indexFile || $0.hasSuffix(".safetensors") && $0.hasPrefix("model-") }
        if shards.count == 1 {
            try SafeTensorsWriter.write(entries, metadata: metadata, to: directory + "/" + singleFile)
            for name in stale { try? fm.removeItem(atPath: directory + "/" + name) }
            return
        }
        let names = shards.indices.map { String(format: "model-%05d-of-%05d.safetensors", $0 + 1, shards.count) }
        var weightMap: [String: String] = [:]
        for (name, shard) in zip(names, shards) {
            try SafeTensorsWriter.write(shard, metadata: metadata, to: directory + "/" + name)
            for e in shard { weightMap[e.name] = name }
        }
        let index: [String: Any] = ["metadata": ["total_size": entries.reduce(0) { $0 + 4 * $1.data.count }], "weight_map": weightMap]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys]), to: directory + "/" + indexFile)
        for name in stale + [singleFile] where !names.contains(name) && name != indexFile { try? fm.removeItem(atPath: directory + "/" + name) }
    }
}
