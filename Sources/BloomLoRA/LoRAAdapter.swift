import BloomCore
import Foundation

/// A PEFT LoRA adapter reduced to what its merge does to a base model: low-rank updates of weights, and whole tensors
/// that replace the base's (trained biases with `bias` "all"/"lora_only", `modules_to_save`, saved embedding layers).
///
/// Built from `adapter_config.json` and the adapter's tensors, in either layout:
/// - current PEFT: `base_model.model.<module>.lora_A[.<adapter>].weight` [r, in] and `lora_B` [out, r];
/// - PEFT ≤ 0.2 (`enable_lora`, told apart by a 3-D `lora_B`): see `LoRAUpdate.Layout.fused`.
///
/// What PEFT did, not what the file says: `fan_in_fan_out` is ignored because BLOOM's layers are `nn.Linear`, for which
/// PEFT (0.2.0's `MergedLinear` path and every version since 0.3) warns and uses false; the transpose exists only for
/// GPT-2-style `Conv1D` weights, which BLOOM does not have.
///
/// Refused with `loraUnsupported` rather than merged wrong: DoRA, `lora_bias`, embedding LoRA, adapters whose
/// `init_lora_weights` rewrote the base (PiSSA, OLoRA, CorDA, LoftQ, LoRA-GA), and the PEFT variants whose merge is not
/// `W + s·B·A` (aLoRA, layer replication, target parameters, trainable tokens, Arrow, BD-LoRA, VeLoRA, MonteCLoRA, KaSA, QALoRA).
public struct LoRAAdapter: Sendable {
    /// How the adapter is named in messages (its folder).
    public let name: String
    /// `base_model_name_or_path` from the config, when present and non-empty.
    public let baseModelNameOrPath: String?
    /// The low-rank updates, in the order of their `lora_A` tensors in the file.
    public let updates: [LoRAUpdate]
    /// Whole tensors that replace the base's, named as in the model (`transformer.h.0.self_attention.query_key_value.bias`).
    public let replacements: [SourceTensor]

    /// `init_lora_weights` values whose initialisation subtracted something from the base weights: the adapter is a delta
    /// on a modified base, not on the base the user has.
    static let baseMutatingInits: Set<String> = ["pissa", "olora", "corda", "loftq", "lora_ga"]

    /// Config keys of PEFT variants whose merge is not `W + s·B·A`; any truthy value is refused.
    static let unsupportedVariants = [
        "use_dora", "lora_bias", "alora_invocation_tokens", "layer_replication", "target_parameters",
        "trainable_token_indices", "arrow_config", "use_bdlora", "velora_config", "monteclora_config", "kasa_config",
        "use_qalora",
    ]

    /// Reads the adapter's settings and tensors (A and B are copied to f32; replacements stay lazy).
    /// - Parameters:
    ///   - name: the adapter's label in messages (usually its folder).
    ///   - config: the parsed `adapter_config.json`.
    ///   - tensors: every tensor of `adapter_model.safetensors` / `adapter_model.bin`, names as stored.
    /// - Throws: `loraUnsupported` for features bloomkit does not merge, `loraInvalidAdapter` for contradictions
    ///   (missing lora_B, ranks that disagree with the config, unknown key forms, an adapter without tensors).
    public init(name: String, config: JSONValue, tensors: [SourceTensor]) throws {
        self.name = name
        func invalid(_ message: String, _ location: String? = nil) -> BloomError {
            BloomError(.loraInvalidAdapter, message, path: name, location: location)
        }
        func unsupported(_ message: String, _ location: String? = nil) -> BloomError {
            BloomError(.loraUnsupported, message, path: name, location: location)
        }
        /// Errors of the key parser, the pattern matcher, the tensor reads and the update's checks, with the adapter named.
        func naming<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch let error as BloomError { throw error.at(path: name) }
        }

        guard config.object != nil else { throw invalid("adapter_config.json is not a JSON object") }
        let peftType = config["peft_type"]?.string
        guard peftType == "LORA" else {
            throw unsupported("peft_type is \(peftType.map { "'\($0)'" } ?? "missing"); only LORA adapters can be merged")
        }
        for key in LoRAAdapter.unsupportedVariants where LoRAAdapter.isTruthy(config[key]) {
            let what = key == "use_dora" ? "DoRA (use_dora)" : key
            throw unsupported("the adapter uses \(what), whose merge bloomkit does not implement", key)
        }
        if let initName = config["init_lora_weights"]?.string?.lowercased(),
           LoRAAdapter.baseMutatingInits.contains(initName) || initName.hasPrefix("pissa") {
            throw unsupported("init_lora_weights '\(initName)' changed the base weights when the adapter was created, so the adapter is not a delta on the original base; re-save it with path_initial_model_for_weight_conversion", "init_lora_weights")
        }

        let rank = try LoRAAdapter.integer(config["r"], default: 8, "r", name)
        let alpha = try LoRAAdapter.number(config["lora_alpha"], default: 8, "lora_alpha", name)
        let rsLoRA = config["use_rslora"]?.bool ?? false
        let rankPattern = try LoRAAdapter.pattern(config["rank_pattern"], "rank_pattern", name) {
            $0.int.flatMap { $0 > 0 ? $0 : nil }
        }
        let alphaPattern = try LoRAAdapter.pattern(config["alpha_pattern"], "alpha_pattern", name) { $0.double }
        let enabled: [Bool]? = try config["enable_lora"].flatMap { value in
            if value.isNull { return nil }
            guard let items = value.array, !items.isEmpty else { throw invalid("enable_lora is not a list of booleans", "enable_lora") }
            return try items.map { item in
                guard let b = item.bool else { throw invalid("enable_lora is not a list of booleans", "enable_lora") }
                return b
            }
        }
        baseModelNameOrPath = config["base_model_name_or_path"]?.string.flatMap { $0.isEmpty ? nil : $0 }

        guard !tensors.isEmpty else {
            throw invalid("the adapter holds no tensors (alpaca-lora with peft 0.3.0.dev saved empty adapter_model.bin files: tloen/alpaca-lora#293)")
        }

        var factors: [String: (a: SourceTensor?, b: SourceTensor?)] = [:]
        var moduleOrder: [String] = []
        var replacements: [SourceTensor] = []
        var replaced = Set<String>()
        for tensor in tensors {
            switch try naming({ try AdapterKey(tensor.name) }) {
            case .factor(let module, let isA):
                var pair = factors[module] ?? (nil, nil)
                if pair.a == nil && pair.b == nil { moduleOrder.append(module) }
                if (isA ? pair.a : pair.b) != nil {
                    throw invalid("two lora_\(isA ? "A" : "B") tensors for module '\(module)' (several adapters in one file?)", tensor.name)
                }
                if isA { pair.a = tensor } else { pair.b = tensor }
                factors[module] = pair
            case .unsupported(let what):
                throw unsupported("tensor '\(tensor.name)' is \(what), which bloomkit does not merge", tensor.name)
            case .replacement(let parameter):
                guard replaced.insert(parameter).inserted else {
                    throw invalid("two tensors replace '\(parameter)'", tensor.name)
                }
                replacements.append(SourceTensor(name: parameter, dtype: tensor.dtype, shape: tensor.shape, readRows: tensor.readRows))
            }
        }

        var updates: [LoRAUpdate] = []
        for module in moduleOrder {
            guard let a = factors[module]?.a, let b = factors[module]?.b else {
                let missing = factors[module]?.a == nil ? "lora_A" : "lora_B"
                throw invalid("module '\(module)' has no \(missing)", module)
            }
            let layout: LoRAUpdate.Layout
            let moduleRank: Int
            let moduleAlpha: Double
            if b.shape.count == 3 {
                // PEFT ≤ 0.2 had no patterns; the groups of lora_B's convolution follow from the shapes.
                guard let enabled else {
                    throw invalid("lora_B has the 2023 shape \(b.shape) but the config has no enable_lora", b.name)
                }
                guard let aRows = a.shape.first, b.shape[1] > 0, aRows % b.shape[1] == 0 else {
                    throw invalid("lora_A \(a.shape) and lora_B \(b.shape) do not form a grouped convolution", module)
                }
                layout = .fused(enabled: enabled, groups: aRows / b.shape[1])
                moduleRank = rank
                moduleAlpha = alpha
            } else {
                layout = .linear
                moduleRank = try naming { try PEFTPattern.value(in: rankPattern, for: module) } ?? rank
                moduleAlpha = try naming { try PEFTPattern.value(in: alphaPattern, for: module) } ?? alpha
            }
            let divisor = rsLoRA && layout == .linear ? Double(moduleRank).squareRoot() : Double(moduleRank)
            updates.append(try naming {
                try LoRAUpdate(weightName: module + ".weight", a: a.floats(), aShape: a.shape, b: b.floats(), bShape: b.shape,
                               rank: moduleRank, scaling: Float(moduleAlpha / divisor), layout: layout)
            })
        }
        self.updates = updates
        self.replacements = replacements
    }

    /// Python truthiness of a config value (null, false, 0, "", [] and {} are false).
    static func isTruthy(_ value: JSONValue?) -> Bool {
        switch value {
        case nil, .null?: return false
        case .bool(let b)?: return b
        case .number(let n)?: return Double(n) != 0
        case .string(let s)?: return !s.isEmpty
        case .array(let items)?: return !items.isEmpty
        case .object(let pairs)?: return !pairs.isEmpty
        }
    }

    static func integer(_ value: JSONValue?, default fallback: Int, _ key: String, _ adapter: String) throws -> Int {
        guard let value, !value.isNull else { return fallback }
        guard let v = value.int, v > 0 else {
            throw BloomError(.loraInvalidAdapter, "\(key) is \(JSONWriter.string(value)); expected a positive integer", path: adapter, location: key)
        }
        return v
    }

    static func number(_ value: JSONValue?, default fallback: Double, _ key: String, _ adapter: String) throws -> Double {
        guard let value, !value.isNull else { return fallback }
        guard let v = value.double, v.isFinite else {
            throw BloomError(.loraInvalidAdapter, "\(key) is \(JSONWriter.string(value)); expected a number", path: adapter, location: key)
        }
        return v
    }

    static func pattern<T>(_ value: JSONValue?, _ key: String, _ adapter: String,
                           _ convert: (JSONValue) -> T?) throws -> [(key: String, value: T)] {
        guard let value, !value.isNull else { return [] }
        guard let pairs = value.object else {
            throw BloomError(.loraInvalidAdapter, "\(key) is not an object", path: adapter, location: key)
        }
        return try pairs.map { pair in
            guard let v = convert(pair.1) else {
                throw BloomError(.loraInvalidAdapter, "\(key)['\(pair.0)'] is \(JSONWriter.string(pair.1)), not a valid value",
                                 path: adapter, location: key)
            }
            return (pair.0, v)
        }
    }
}

/// What an adapter tensor's name says it is.
enum AdapterKey: Equatable {
    /// `lora_A` (isA) or `lora_B` of `module` (`transformer.h.0.self_attention.query_key_value`).
    case factor(module: String, isA: Bool)
    /// A whole tensor replacing the model parameter of that name.
    case replacement(parameter: String)
    /// A LoRA tensor of a kind bloomkit does not merge (described for the message).
    case unsupported(String)

    /// PEFT's prefix for a `PeftModel` wrapping a causal LM.
    static let prefix = "base_model.model."

    /// Parses `base_model.model.<module>.lora_A[.<adapter>].weight` and friends. In-memory names carry the adapter
    /// name before `weight` (`lora_A.default.weight`); saved names do not. Trained biases may sit under `.base_layer.`
    /// (PEFT ≥ 0.7) and copies under `.modules_to_save.<adapter>.`; both are mapped to the base parameter.
    init(_ name: String) throws {
        let body = name.hasPrefix(AdapterKey.prefix) ? String(name.dropFirst(AdapterKey.prefix.count)) : name
        let parts = body.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if let i = parts.firstIndex(where: { $0.hasPrefix("lora_") }) {
            let module = parts[..<i].joined(separator: ".")
            let rest = Array(parts[(i + 1)...])
            let kind = parts[i]
            guard !module.isEmpty else {
                throw BloomError(.loraInvalidAdapter, "adapter tensor '\(name)' names no module", location: name)
            }
            switch kind {
            case "lora_A", "lora_B":
                if rest.last == "weight", rest.count == 1 || rest.count == 2 {
                    self = .factor(module: module, isA: kind == "lora_A")
                } else if rest.last == "bias" {
                    self = .unsupported("a lora_B bias (lora_bias)")
                } else {
                    throw BloomError(.loraInvalidAdapter, "adapter tensor '\(name)' has an unknown form", location: name)
                }
            case "lora_magnitude_vector":
                self = .unsupported("a DoRA magnitude vector (use_dora)")
            case "lora_embedding_A", "lora_embedding_B":
                self = .unsupported("an embedding LoRA factor")
            default:
                self = .unsupported("'\(kind)' (not a LoRA factor of the current or 2023 layout)")
            }
            return
        }
        var kept: [String] = []
        var k = 0
        while k < parts.count {
            if parts[k] == "base_layer" {
                k += 1
            } else if parts[k] == "modules_to_save" {
                k += 2
            } else {
                kept.append(parts[k])
                k += 1
            }
        }
        guard kept.count >= 2 else {
            throw BloomError(.loraInvalidAdapter, "adapter tensor '\(name)' names no model parameter", location: name)
        }
        self = .replacement(parameter: kept.joined(separator: "."))
    }
}
