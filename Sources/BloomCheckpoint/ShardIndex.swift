// Sharded checkpoints (transformers / huggingface_hub): `model.safetensors.index.json` or
// `pytorch_model.bin.index.json` = {"metadata": {"total_size": …}, "weight_map": {"<tensor>": "<shard file>", …}}.
// Loaders use only weight_map; metadata may be empty or carry extra keys. Shard names vary
// (model-00001-of-00003.safetensors, pytorch_model_00001-of-00072.bin): accept any name the index lists,
// as long as it stays inside the index's folder.
import BloomCore

/// A parsed shard index.
public struct ShardIndex: Sendable {
    public let path: String
    /// The index's `metadata` object as stored (`.object([])` when absent).
    public let metadata: JSONValue
    /// Tensor name → shard file name (relative to the index's folder), in index order.
    public let weightMap: [(tensor: String, file: String)]

    /// The folder the shard names are relative to.
    public var folder: String { Paths.parent(of: path) }

    /// The distinct shard files, sorted by name (the `-00001-of-0000N` order).
    public var shardFiles: [String] { Array(Set(weightMap.map(\.file))).sorted() }

    /// Reads and checks an index file.
    /// - Throws: `.shardIndex` when it is not `{"weight_map": {string: string}}` or a shard name leaves the folder;
    ///   JSON and I/O errors with the path.
    public init(path: String) throws {
        self.path = path
        let json = try JSONFile.read(path)
        guard json.object != nil, let map = json["weight_map"]?.object else {
            throw BloomError(.shardIndex, "index has no 'weight_map' object", path: path)
        }
        var pairs: [(tensor: String, file: String)] = []
        pairs.reserveCapacity(map.count)
        for (tensor, value) in map {
            guard let file = value.string else {
                throw BloomError(.shardIndex, "weight_map entry is not a file name", path: path,
                                 location: "tensor '\(tensor)'")
            }
            guard Paths.isSafeRelative(file) else {
                throw BloomError(.shardIndex, "shard name '\(file)' leaves the index's folder", path: path,
                                 location: "tensor '\(tensor)'")
            }
            pairs.append((tensor, file))
        }
        guard !pairs.isEmpty else { throw BloomError(.shardIndex, "weight_map is empty", path: path) }
        let metadata = json["metadata"] ?? .object([])
        guard metadata.object != nil || metadata.isNull else {
            throw BloomError(.shardIndex, "'metadata' is not an object", path: path)
        }
        self.metadata = metadata.isNull ? .object([]) : metadata
        self.weightMap = pairs
    }
}
