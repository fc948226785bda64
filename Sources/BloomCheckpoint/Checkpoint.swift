import BloomCore

/// The on-disk format of a checkpoint's weight files.
public enum CheckpointFormat: String, Sendable {
    /// `.safetensors` (single or sharded).
    case safetensors
    /// `torch.save` zip archives (`.bin`, `.pt`, `.pth`; single or sharded).
    case pytorch
}

/// One weight file of a checkpoint, with what its reader found besides the tensors.
public enum CheckpointFile: Sendable {
    case safetensors(SafetensorsFile)
    case pytorch(TorchArchive)

    public var path: String {
        switch self {
        case .safetensors(let f): return f.path
        case .pytorch(let f): return f.path
        }
    }

    /// Every tensor of the file, in file order.
    public var tensors: [TensorView] {
        switch self {
        case .safetensors(let f): return f.tensors
        case .pytorch(let f): return f.tensors
        }
    }

    /// The file's size in bytes.
    public var size: Int {
        switch self {
        case .safetensors(let f): return f.mapped.count
        case .pytorch(let f): return f.mapped.count
        }
    }
}

/// The weights of one checkpoint: a single file or every shard of an index, read headers-only into zero-copy views.
public struct Checkpoint: Sendable {
    public let format: CheckpointFormat
    /// What was opened: the weight file or the index file.
    public let path: String
    /// The shard index, when `path` is one.
    public let index: ShardIndex?
    /// The weight files, in the order their tensors are listed (shards sorted by name).
    public let files: [CheckpointFile]
    /// Every tensor of every file, in file order (safetensors: ascending offset; PyTorch: pickle order).
    public let tensors: [TensorView]
    private let positions: [String: Int]

    /// Opens a weight file (`.safetensors`, a torch zip) or a shard index (`*.index.json`).
    /// - Throws: `BloomError` naming the file and what is wrong: a reader error, `.shardIndex` when the index and its
    ///   shards disagree, `.duplicateTensor`, `.torchLegacyFormat`, `.unsupported` for other formats.
    /// - Parameter headersOnly: leave deflated torch storages deflated (their views have no readable bytes):
    ///   what `inspect` needs, without the memory a small deflated file could demand.
    public static func open(_ path: String, headersOnly: Bool = false) throws -> Checkpoint {
        if path.hasSuffix(".json") {
            return try Checkpoint(index: ShardIndex(path: path), headersOnly: headersOnly)
        }
        let file = try MappedFile(path: path)
        let format = try detectFormat(file)
        return try Checkpoint(format: format, path: path, index: nil, files: [readFile(file, format, headersOnly)])
    }

    /// Opens every shard an index lists and checks that each tensor is where the index says, and nowhere else.
    public init(index: ShardIndex, headersOnly: Bool = false) throws {
        var parts: [CheckpointFile] = []
        var format: CheckpointFormat?
        for name in index.shardFiles {
            let shardPath = Paths.join(index.folder, name)
            guard Paths.isFile(shardPath) else {
                throw BloomError(.missingFile, "shard '\(name)' listed in the index does not exist", path: index.path)
            }
            let file = try MappedFile(path: shardPath)
            let shardFormat = try Self.detectFormat(file)
            if let format, format != shardFormat {
                throw BloomError(.shardIndex,
                                 "shard '\(name)' is \(shardFormat.rawValue) but earlier shards are \(format.rawValue)",
                                 path: index.path)
            }
            format = shardFormat
            parts.append(try Self.readFile(file, shardFormat, headersOnly))
        }
        guard let format else { throw BloomError(.shardIndex, "index lists no shards", path: index.path) }

        try self.init(format: format, path: index.path, index: index, files: parts)
        try checkIndex()
    }

    /// Weights whose bytes are not in files on disk (a packed model's): header-only views, checked like the views of
    /// opened files (no duplicate names; with an index, each tensor in the shard it names, and every listed tensor
    /// present). `files` is empty; the bytes are read through whatever holds them.
    /// - Parameters:
    ///   - tensors: the views, each naming its weight file as it would lie in the folder (`index.folder` + shard).
    ///   - path: the weight file or the index the views come from.
    public init(headerOnly tensors: [TensorView], path: String, index: ShardIndex?) throws {
        try self.init(format: .safetensors, path: path, index: index, files: [], tensors: tensors)
        if index != nil { try checkIndex() }
    }

    /// Each tensor is in the shard the index names, and every tensor the index lists is in one.
    private func checkIndex() throws {
        guard let index else { return }
        var listed: [String: String] = [:]
        for (tensor, file) in index.weightMap { listed[tensor] = file }
        for view in tensors where listed[view.name].map({ Paths.join(index.folder, $0) }) != view.file {
            let detail = listed[view.name].map { "the index places it in '\($0)'" } ?? "the index does not list it"
            throw BloomError(.shardIndex,
                             "tensor '\(view.name)' is in shard '\(Paths.basename(view.file))' but \(detail)",
                             path: index.path)
        }
        for (tensor, file) in index.weightMap where positions[tensor] == nil {
            throw BloomError(.shardIndex, "tensor '\(tensor)' is listed in the index but missing from shard '\(file)'",
                             path: index.path)
        }
    }

    private init(format: CheckpointFormat, path: String, index: ShardIndex?, files: [CheckpointFile],
                 tensors: [TensorView]? = nil) throws {
        self.format = format
        self.path = path
        self.index = index
        self.files = files
        self.tensors = tensors ?? files.flatMap(\.tensors)
        var positions: [String: Int] = [:]
        for (k, view) in self.tensors.enumerated() {
            if let previous = positions[view.name] {
                let first = self.tensors[previous].file
                throw BloomError(.duplicateTensor,
                                 "tensor '\(view.name)' appears in both '\(first)' and '\(view.file)'", path: path)
            }
            positions[view.name] = k
        }
        self.positions = positions
    }

    /// The tensor stored under exactly `name`, or nil.
    public func tensor(named name: String) -> TensorView? {
        positions[name].map { tensors[$0] }
    }

    private static func readFile(_ file: MappedFile, _ format: CheckpointFormat, _ headersOnly: Bool) throws
        -> CheckpointFile {
        switch format {
        case .safetensors: return .safetensors(try SafetensorsFile(mapped: file))
        case .pytorch: return .pytorch(try TorchArchive(mapped: file, headersOnly: headersOnly))
        }
    }

    /// Tells safetensors from a torch zip by content (not by name), and refuses what bloomkit does not read.
    static func detectFormat(_ file: MappedFile) throws -> CheckpointFormat {
        let head = Array(file.bytes.prefix(16))
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            return .pytorch
        }
        if head.starts(with: Array("GGUF".utf8)) {
            throw BloomError(.unsupported, "this is a GGUF file, not a Hugging Face checkpoint", path: file.path)
        }
        // A safetensors header is a JSON object right after the 8-byte length; its name settles the rest.
        if (head.count > 8 && head[8] == UInt8(ascii: "{")) || file.path.hasSuffix(".safetensors") {
            return .safetensors
        }
        if TorchArchive.isLegacy(file) {
            throw TorchArchive.legacyFormatError(path: file.path)
        }
        throw BloomError(.unsupported,
                         "not a safetensors file or a PyTorch zip archive (first bytes " +
                         "\(head.prefix(8).map { String($0, radix: 16) }))",
                         path: file.path)
    }
}
