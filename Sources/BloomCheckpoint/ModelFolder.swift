// A Hugging Face BLOOM model folder: config.json, tokenizer.json, tokenizer_config.json and the weights in one of
// the four layouts transformers writes. Checkpoint quirks live here and only here: names with or without the
// `transformer.` prefix (BloomForCausalLM vs BloomModel / Megatron-converted files), and `lm_head.weight` present
// (shared with word_embeddings) or absent (tied).
import BloomCore

/// A model folder, headers read, weights as zero-copy views.
public struct ModelFolder: Sendable {
    /// The weight files looked for, in transformers' order of preference (safetensors first).
    public static let weightFileNames = [
        "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
    ]

    /// The folder read (a hub id or cache folder resolved to its snapshot).
    public let path: String
    public let configPath: String
    /// config.json as stored; `BloomConfig(json:)` (BloomArch) types it.
    public let config: JSONValue
    /// tokenizer.json, when the folder has one.
    public let tokenizerPath: String?
    /// tokenizer_config.json, when the folder has one.
    public let tokenizerConfigPath: String?
    /// The weights (a single file or every shard of an index).
    public let checkpoint: Checkpoint
    /// `tie_word_embeddings` of config.json (default true): the LM head falls back to word_embeddings.
    public let tiesWordEmbeddings: Bool
    /// Canonical name → index in `tensors`.
    private let canonical: [String: Int]

    /// Every tensor of every file in file order, named exactly as stored.
    public var tensors: [TensorView] { checkpoint.tensors }

    /// Opens a model folder.
    /// - Parameter path: a folder, a hub id `ORG/NAME` or a `models--ORG--NAME` folder of the hub cache (offline).
    /// - Throws: `.missingFile` without config.json or weights; `.duplicateTensor` when a name appears both with and
    ///   without `transformer.`; reader errors with the file and offset.
    /// - Parameter headersOnly: see `Checkpoint.open(_:headersOnly:)`.
    public init(path: String, headersOnly: Bool = false) throws {
        let folder = try HubCache.resolve(path)
        let (configPath, config) = try Self.readConfig(folder: folder)
        guard let weights = Self.weightFileNames.map({ Paths.join(folder, $0) }).first(where: Paths.isFile) else {
            throw BloomError(.missingFile,
                             "no weights in the model folder (looked for " +
                             "\(Self.weightFileNames.joined(separator: ", ")))",
                             path: folder)
        }
        try self.init(folder: folder, configPath: configPath, config: config,
                      checkpoint: Checkpoint.open(weights, headersOnly: headersOnly))
    }

    /// A model folder whose weights were opened elsewhere (a packed model's header-only views): config.json and the
    /// tokenizer files from `path`, the tensors from `checkpoint`.
    /// - Throws: `.missingFile` without config.json; `.duplicateTensor` as `init(path:)`.
    public init(path: String, checkpoint: Checkpoint) throws {
        let (configPath, config) = try Self.readConfig(folder: path)
        try self.init(folder: path, configPath: configPath, config: config, checkpoint: checkpoint)
    }

    /// config.json of `folder`, which must be a folder and hold one whose content is a JSON object.
    private static func readConfig(folder: String) throws -> (path: String, config: JSONValue) {
        guard Paths.isDirectory(folder) else {
            throw BloomError(.missingFile, "not a folder (a model folder holds config.json and the weights)",
                             path: folder)
        }
        let configPath = Paths.join(folder, "config.json")
        guard Paths.isFile(configPath) else {
            throw BloomError(.missingFile, "no config.json in the model folder", path: folder)
        }
        let config = try JSONFile.read(configPath)
        guard config.object != nil else {
            throw BloomError(.invalidJSON, "config.json is not a JSON object", path: configPath)
        }
        return (configPath, config)
    }

    private init(folder: String, configPath: String, config: JSONValue, checkpoint: Checkpoint) throws {
        path = folder
        self.configPath = configPath
        self.config = config
        tiesWordEmbeddings = config["tie_word_embeddings"]?.bool ?? true
        let tokenizer = Paths.join(folder, "tokenizer.json"),
            tokenizerConfig = Paths.join(folder, "tokenizer_config.json")
        tokenizerPath = Paths.isFile(tokenizer) ? tokenizer : nil
        tokenizerConfigPath = Paths.isFile(tokenizerConfig) ? tokenizerConfig : nil
        self.checkpoint = checkpoint
        var canonical: [String: Int] = [:]
        for (k, view) in checkpoint.tensors.enumerated() {
            let name = Self.canonicalName(view.name)
            if let previous = canonical[name] {
                throw BloomError(.duplicateTensor,
                                 "tensors '\(checkpoint.tensors[previous].name)' and '\(view.name)' are both '\(name)'",
                                 path: checkpoint.path)
            }
            canonical[name] = k
        }
        self.canonical = canonical
    }

    /// A stored name without BloomForCausalLM's `transformer.` prefix (`lm_head.weight` has none).
    public static func canonicalName(_ stored: String) -> String {
        stored.hasPrefix("transformer.") ? String(stored.dropFirst("transformer.".count)) : stored
    }

    /// Canonical names of `tensors`, in the same order.
    public var canonicalNames: [String] { tensors.map { Self.canonicalName($0.name) } }

    /// The tensor for a canonical name (`h.0.self_attention.query_key_value.weight`; a `transformer.` prefix is
    /// ignored). `lm_head.weight` is the stored head when present, else word_embeddings when the config ties them.
    /// - Returns: the view as stored (its `name` is the stored name), or nil.
    public func tensor(named name: String) -> TensorView? {
        let key = Self.canonicalName(name)
        if let k = canonical[key] { return tensors[k] }
        if key == "lm_head.weight", tiesWordEmbeddings, let k = canonical["word_embeddings.weight"] {
            return tensors[k]
        }
        return nil
    }

    /// Like `tensor(named:)`, but a missing tensor or an unexpected shape is an error.
    /// - Parameter shape: the expected shape, outermost first (nil accepts any).
    /// - Throws: `.missingTensor` naming the tensor; `.tensorShape` with both shapes when they differ.
    public func requireTensor(_ name: String, shape: [Int]? = nil) throws -> TensorView {
        guard let view = tensor(named: name) else {
            throw BloomError(.missingTensor, "tensor '\(name)' is missing", path: checkpoint.path)
        }
        if let shape, view.shape != shape {
            throw BloomError(.tensorShape, "tensor '\(view.name)' has shape \(view.shape), expected \(shape)",
                             path: view.file, location: "tensor '\(view.name)'")
        }
        return view
    }
}
