// A PEFT adapter folder: adapter_config.json + adapter_model.safetensors (preferred, as PEFT does) or adapter_model.bin.
// Tensor keys (PeftModel → LoraModel → BloomForCausalLM):
//   base_model.model.<module>.lora_A[.<adapter>].weight        [r, in]
//   base_model.model.<module>.lora_B[.<adapter>].weight        [out, r]          (+ .bias [out] with lora_bias)
//   base_model.model.<module>.lora_embedding_{A,B}[.<adapter>] [r, vocab] / [dim, r]
//   base_model.model.<module>.lora_magnitude_vector[.<adapter>.weight]  [out]   (DoRA)
//   base_model.model.<module>[.base_layer].bias, <module>[.modules_to_save.<adapter>].<param>: full replacements
// The 2023 layout (PEFT ≤ 0.2.0 MergedLinear, config `enable_lora` [b0, …, b(n-1)] with k true): lora_A [r·k, in],
// lora_B [out·k/n, r, 1] (a grouped Conv1d).
import BloomCore

/// How an adapter's LoRA tensors are laid out.
public enum AdapterLayout: String, Sendable {
    /// lora_A [r, in], lora_B [out, r] (PEFT ≥ 0.3).
    case current
    /// PEFT ≤ 0.2.0 MergedLinear with `enable_lora`: lora_A [r·k, in], lora_B [out·k/n, r, 1].
    case mergedLinear2023 = "2023-merged-linear"
}

/// The LoRA pair of one module.
public struct LoRAModule: Sendable {
    /// The module's name relative to the wrapped model, as PEFT names it (`transformer.h.0.self_attention.query_key_value`);
    /// the name `AdapterConfig.rank(forModule:)` and `alpha(forModule:)` expect.
    public let path: String
    /// lora_A: [r, in] (current), [r·k, in] (2023), [r, vocab] (embedding).
    public let a: TensorView
    /// lora_B: [out, r] (current), [out·k/n, r, 1] (2023), [dim, r] (embedding).
    public let b: TensorView
    /// lora_B.bias [out], with `lora_bias`.
    public let bBias: TensorView?
    /// DoRA's lora_magnitude_vector [out].
    public let magnitude: TensorView?
    /// lora_embedding_A/B of an embedding layer (delta = (B·A)ᵀ · scaling).
    public let isEmbedding: Bool

    /// The module name without `transformer.`, as `ModelFolder` names base tensors (append `.weight`).
    public var canonicalPath: String { ModelFolder.canonicalName(path) }
}

/// A PEFT LoRA adapter, headers read, tensors as zero-copy views.
public struct AdapterFolder: Sendable {
    public static let configFileName = "adapter_config.json"
    /// In PEFT's order of preference.
    public static let weightFileNames = ["adapter_model.safetensors", "adapter_model.bin"]

    public let path: String
    public let configPath: String
    public let config: AdapterConfig
    public let checkpoint: Checkpoint
    public let layout: AdapterLayout
    /// The adapter name found in the keys (`default` in memory; saved files usually have none).
    public let adapterName: String?
    /// One per LoRA-wrapped module, in file order.
    public let modules: [LoRAModule]
    /// Tensors saved whole that replace base tensors (biases with `bias` ≠ none, `modules_to_save`), under the
    /// base tensor's name as PEFT names it (`transformer.h.0.self_attention.query_key_value.bias`).
    public let replacements: [(name: String, tensor: TensorView)]
    private let byPath: [String: Int]

    /// Every tensor in file order, named exactly as stored.
    public var tensors: [TensorView] { checkpoint.tensors }

    /// Opens an adapter folder.
    /// - Parameter path: a folder, a hub id `ORG/NAME` or a `models--ORG--NAME` cache folder (offline).
    /// - Throws: `.missingFile`; `.adapterUnsupported` for non-LoRA types; `.adapterConfig`; `.adapterEmpty` when
    ///   the weights hold no LoRA tensor; `.adapterTensors` for names or shapes that do not fit the layout.
    /// - Parameter headersOnly: see `Checkpoint.open(_:headersOnly:)`.
    public init(path: String, headersOnly: Bool = false) throws {
        let folder = try HubCache.resolve(path)
        self.path = folder
        configPath = Paths.join(folder, Self.configFileName)
        guard Paths.isFile(configPath) else {
            throw BloomError(.missingFile, "no \(Self.configFileName) in the adapter folder", path: folder)
        }
        config = try AdapterConfig(json: try JSONFile.read(configPath), path: configPath)
        guard let weights = Self.weightFileNames.map({ Paths.join(folder, $0) }).first(where: Paths.isFile) else {
            throw BloomError(.missingFile, "no adapter weights (looked for \(Self.weightFileNames.joined(separator: ", ")))", path: folder)
        }
        checkpoint = try Checkpoint.open(weights, headersOnly: headersOnly)
        do {
            (layout, adapterName, modules, replacements) = try Self.parse(checkpoint.tensors, config)
        } catch let error as BloomError {
            throw error.at(path: weights)
        }
        byPath = Dictionary(modules.enumerated().map { ($1.canonicalPath, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The LoRA pair of a module, by PEFT path or canonical path (`h.0.self_attention.query_key_value`).
    public func module(_ path: String) -> LoRAModule? {
        byPath[ModelFolder.canonicalName(path)].map { modules[$0] }
    }

    // MARK: parsing

    private static let markers: Set<String> = ["lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector"]

    private struct Parts {
        var a: TensorView?, b: TensorView?, bBias: TensorView?, magnitude: TensorView?
        var embedding = false
    }

    private static func parse(_ tensors: [TensorView], _ config: AdapterConfig)
        throws -> (AdapterLayout, String?, [LoRAModule], [(name: String, tensor: TensorView)]) {
        var order: [String] = []
        var parts: [String: Parts] = [:]
        var replacements: [(name: String, tensor: TensorView)] = []
        var adapterName: String?

        func noteAdapter(_ name: String, _ view: TensorView) throws {
            if let adapterName, adapterName != name {
                throw BloomError(.adapterTensors, "tensors of two adapters ('\(adapterName)' and '\(name)') in one file",
                                 location: "tensor '\(view.name)'")
            }
            adapterName = name
        }

        for view in tensors {
            let bare = view.name.hasPrefix("base_model.model.") ? String(view.name.dropFirst("base_model.model.".count)) : view.name
            var components = bare.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard let m = components.firstIndex(where: markers.contains) else {
                if components.contains(where: { $0.hasPrefix("lora_") }) {
                    throw BloomError(.adapterTensors, "unknown LoRA tensor kind", location: "tensor '\(view.name)'")
                }
                // A full replacement: drop `base_layer.` and `modules_to_save.<adapter>.` to get the base name.
                if let k = components.firstIndex(of: "modules_to_save"), k + 1 < components.count {
                    try noteAdapter(components[k + 1], view)
                    components.removeSubrange(k...(k + 1))
                }
                components.removeAll { $0 == "base_layer" }
                replacements.append((components.joined(separator: "."), view))
                continue
            }
            let module = components[..<m].joined(separator: ".")
            let marker = components[m]
            var rest = Array(components[(m + 1)...])
            let embedding = marker.hasPrefix("lora_embedding")
            // Parameters end in weight/bias, except embedding factors and DoRA's vector, saved bare.
            let param: String?
            if let last = rest.last, last == "weight" || last == "bias", !(embedding && rest.count == 1) {
                param = last
                rest.removeLast()
            } else {
                param = nil
            }
            if rest.count == 1 { try noteAdapter(rest[0], view) }
            guard rest.count <= 1, !module.isEmpty else {
                throw BloomError(.adapterTensors, "cannot read the module and adapter name from this key", location: "tensor '\(view.name)'")
            }
            if parts[module] == nil { order.append(module); parts[module] = Parts() }
            switch (marker, param) {
            case ("lora_A", "weight"?), ("lora_embedding_A", nil): parts[module]?.a = view
            case ("lora_B", "weight"?), ("lora_embedding_B", nil): parts[module]?.b = view
            case ("lora_B", "bias"?): parts[module]?.bBias = view
            case ("lora_magnitude_vector", _): parts[module]?.magnitude = view
            default:
                throw BloomError(.adapterTensors, "unexpected \(marker) parameter", location: "tensor '\(view.name)'")
            }
            if embedding { parts[module]?.embedding = true }
        }

        guard !order.isEmpty else {
            throw BloomError(.adapterEmpty,
                             "the adapter holds no LoRA tensors (lora_A/lora_B): it is empty. tloen/alpaca-lora's finetune.py with peft 0.3.0.dev (April–July 2023) saved such empty adapters (a 443-byte adapter_model.bin) because it replaced model.state_dict; re-save the trained model with model.save_pretrained from a current peft, or use a checkpoint that holds the weights")
        }
        let hasConvB = order.contains { parts[$0]?.b?.shape.count == 3 }
        let layout: AdapterLayout = config.enableLora != nil || hasConvB ? .mergedLinear2023 : .current
        if layout == .mergedLinear2023, config.enableLora == nil {
            throw BloomError(.adapterTensors, "lora_B is 3-D (the 2023 MergedLinear layout) but adapter_config.json has no enable_lora")
        }
        let modules = try order.map { name -> LoRAModule in
            guard let p = parts[name], let a = p.a, let b = p.b else {
                throw BloomError(.adapterTensors, "module '\(name)' has \(parts[name]?.a == nil ? "no lora_A" : "no lora_B")")
            }
            try checkShapes(name, a, b, p, layout, config)
            return LoRAModule(path: name, a: a, b: b, bBias: p.bBias, magnitude: p.magnitude, isEmbedding: p.embedding)
        }
        return (layout, adapterName, modules, replacements)
    }

    private static func checkShapes(_ module: String, _ a: TensorView, _ b: TensorView, _ p: Parts, _ layout: AdapterLayout,
                                    _ config: AdapterConfig) throws {
        func fail(_ message: String) -> BloomError {
            BloomError(.adapterTensors, "module '\(module)': \(message)", location: "tensor '\(b.name)'")
        }
        for view in [a, b] + [p.bBias, p.magnitude].compactMap({ $0 }) where !view.dtype.isFloatingPointWeight {
            throw fail("tensor '\(view.name)' has dtype \(view.dtype.rawValue), not F32, F16 or BF16")
        }
        let rank = config.rank(forModule: module)
        switch layout {
        case .current:
            guard a.shape.count == 2, b.shape.count == 2, a.shape[0] == b.shape[1] else {
                throw fail("lora_A \(a.shape) and lora_B \(b.shape) are not [r, in] and [out, r]")
            }
            guard a.shape[0] == rank else {
                throw fail("lora_A has rank \(a.shape[0]) but the config gives r = \(rank)")
            }
            if let bias = p.bBias, bias.shape != [b.shape[0]] {
                throw fail("lora_B.bias \(bias.shape) does not match lora_B's \(b.shape[0]) outputs")
            }
        case .mergedLinear2023:
            let enabled = config.enableLora?.filter { $0 }.count ?? 0
            guard enabled > 0 else { throw fail("enable_lora enables no block") }
            // r comes from the config and may be huge (a [0, 2^62, 1] lora_B holds no bytes): the product may overflow.
            let (rows, overflow) = rank.multipliedReportingOverflow(by: enabled)
            guard a.shape.count == 2, b.shape.count == 3, b.shape[2] == 1, b.shape[1] == rank,
                  !overflow, a.shape[0] == rows, b.shape[0] % enabled == 0 else {
                throw fail("lora_A \(a.shape) and lora_B \(b.shape) are not [r·k, in] and [out·k/n, r, 1] with r = \(rank), k = \(enabled)")
            }
        }
    }
}
