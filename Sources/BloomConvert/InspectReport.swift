// `bloomkit inspect`: what a checkpoint, model folder or adapter holds, from headers only (no tensor byte is read,
// except for deflated or non-contiguous torch entries, which the reader must inflate or gather).
import BloomArch
import BloomCheckpoint
import BloomCore

extension BloomError.Code {
    /// A file `InspectReport` does not list (GGUF: `GGUFInspect` does).
    public static let inspectUnsupported: Self = "inspect-unsupported"
}

/// Everything `inspect` reports about one path.
public struct InspectReport: Sendable {
    public enum Kind: String, Sendable {
        /// A Hugging Face model folder (config.json + weights).
        case model
        /// A PEFT adapter folder (adapter_config.json + adapter weights).
        case adapter
        /// Weight files alone (a file, an index, or a folder without config.json).
        case checkpoint
    }

    /// Per-dtype totals.
    public struct DTypeTotal: Sendable {
        public let dtype: DType
        public let tensors: Int
        public let parameters: Int
        public let bytes: Int
    }

    /// The path as given.
    public let path: String
    /// The folder or file actually read (hub ids and cache folders resolved).
    public let resolvedPath: String
    public let kind: Kind
    public let checkpoint: Checkpoint
    /// config.json (model) or adapter_config.json (adapter).
    public let config: JSONValue?
    /// The typed BLOOM config, when config.json is one.
    public let bloomConfig: BloomConfig?
    /// Why config.json is not a usable BLOOM config, when it is not.
    public let configProblem: String?
    public let model: ModelFolder?
    public let adapter: AdapterFolder?

    /// Reads the headers of `path`.
    /// - Parameter path: a weight file, a shard index, a model or adapter folder, a hub id or a hub-cache folder.
    /// - Throws: the readers' `BloomError`s; `.inspectUnsupported` for GGUF files (see `GGUFInspect`); `.missingFile` for a folder
    ///   without weights.
    public static func open(_ path: String) throws -> InspectReport {
        let resolved = try HubCache.resolve(path)
        if GGUFInspect.isGGUF(path: resolved) {
            throw BloomError(.inspectUnsupported, "this is a GGUF file: GGUFInspect lists it, not InspectReport", path: resolved)
        }
        guard Paths.isDirectory(resolved) else {
            return InspectReport(path: path, resolvedPath: resolved, kind: .checkpoint,
                                 checkpoint: try Checkpoint.open(resolved, headersOnly: true))
        }
        if Paths.isFile(Paths.join(resolved, AdapterFolder.configFileName)) {
            let adapter = try AdapterFolder(path: resolved, headersOnly: true)
            return InspectReport(path: path, resolvedPath: resolved, kind: .adapter, checkpoint: adapter.checkpoint,
                                 config: adapter.config.json, adapter: adapter)
        }
        if Paths.isFile(Paths.join(resolved, "config.json")) {
            let model = try ModelFolder(path: resolved, headersOnly: true)
            return InspectReport(path: path, resolvedPath: resolved, kind: .model, checkpoint: model.checkpoint,
                                 config: model.config, model: model)
        }
        let candidates = (ModelFolder.weightFileNames + AdapterFolder.weightFileNames).map { Paths.join(resolved, $0) }
        guard let weights = candidates.first(where: Paths.isFile) else {
            throw BloomError(.missingFile, "no config.json, adapter_config.json or weight files in the folder", path: resolved)
        }
        return InspectReport(path: path, resolvedPath: resolved, kind: .checkpoint,
                             checkpoint: try Checkpoint.open(weights, headersOnly: true))
    }

    private init(path: String, resolvedPath: String, kind: Kind, checkpoint: Checkpoint, config: JSONValue? = nil,
                 model: ModelFolder? = nil, adapter: AdapterFolder? = nil) {
        self.path = path
        self.resolvedPath = resolvedPath
        self.kind = kind
        self.checkpoint = checkpoint
        self.config = config
        self.model = model
        self.adapter = adapter
        var bloomConfig: BloomConfig?
        var problem: String?
        if let config, kind == .model {
            do {
                bloomConfig = try BloomConfig(json: config)
            } catch let error as BloomError {
                problem = error.description
            } catch {
                problem = "\(error)"
            }
        }
        self.bloomConfig = bloomConfig
        configProblem = problem
    }

    /// Tensors whose bytes are stored once: views sharing one storage range (tied lm_head) count once.
    private var distinctTensors: [TensorView] {
        var seen = Set<StorageRange>()
        return checkpoint.tensors.filter { seen.insert(StorageRange($0)).inserted }
    }

    /// Elements over distinct stored tensors.
    public var parameterCount: Int { distinctTensors.reduce(0) { $0 + $1.elementCount } }
    /// Tensor bytes over distinct stored tensors.
    public var byteCount: Int { distinctTensors.reduce(0) { $0 + $1.byteCount } }
    /// Views that share their bytes with an earlier one (e.g. a tied lm_head).
    public var sharedTensorCount: Int { checkpoint.tensors.count - distinctTensors.count }

    /// Totals per dtype over distinct stored tensors, most parameters first.
    public var dtypeTotals: [DTypeTotal] {
        var totals: [DType: (Int, Int, Int)] = [:]
        for t in distinctTensors {
            let (n, p, b) = totals[t.dtype] ?? (0, 0, 0)
            totals[t.dtype] = (n + 1, p + t.elementCount, b + t.byteCount)
        }
        return totals.map { DTypeTotal(dtype: $0.key, tensors: $0.value.0, parameters: $0.value.1, bytes: $0.value.2) }
            .sorted { ($0.parameters, $0.dtype.rawValue) > ($1.parameters, $1.dtype.rawValue) }
    }
}

/// The identity of a tensor's bytes (storage object and range), to count shared views once.
private struct StorageRange: Hashable {
    let storage: ObjectIdentifier
    let lower: Int, upper: Int
    init(_ view: TensorView) {
        storage = ObjectIdentifier(view.storage)
        lower = view.range.lowerBound
        upper = view.range.upperBound
    }
}
