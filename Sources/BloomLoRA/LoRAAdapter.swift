import BloomCheckpoint
import BloomCore

/// A PEFT LoRA adapter reduced to what its merge does to a base model: low-rank updates of weights, and whole tensors
/// that replace the base's (trained biases with `bias` "all"/"lora_only", `modules_to_save`, saved embedding layers).
///
/// Built from an `AdapterFolder` (which reads the config and tells the layouts apart): current PEFT (`lora_A` [r, in],
/// `lora_B` [out, r], per-module rank and alpha from `rank_pattern` / `alpha_pattern` as PEFT matches them) or
/// PEFT ≤ 0.2 (`enable_lora`; see `LoRAUpdate.Layout.fused`).
///
/// What PEFT did, not what the file says: `fan_in_fan_out` is ignored because BLOOM's layers are `nn.Linear`, for which
/// PEFT (0.2.0's `MergedLinear` path and every version since 0.3) warns and uses false; the transpose exists only for
/// GPT-2-style `Conv1D` weights, which BLOOM does not have.
///
/// Refused with `loraUnsupported` rather than merged wrong: DoRA, `lora_bias`, embedding LoRA, adapters whose
/// `init_lora_weights` rewrote the base (PiSSA, OLoRA, CorDA, LoftQ, LoRA-GA), and the PEFT variants whose merge is not
/// `W + s·B·A` (aLoRA, layer replication, target parameters, trainable tokens, Arrow, BD-LoRA, VeLoRA, MonteCLoRA,
/// KaSA, QALoRA).
public struct LoRAAdapter: Sendable {
    /// The adapter's folder, as resolved by `AdapterFolder`.
    public let path: String
    /// Its last path component (how messages and GGUF provenance name it).
    public let name: String
    /// `base_model_name_or_path` from the config, when present and non-empty.
    public let baseModelNameOrPath: String?
    /// The low-rank updates, in the order of their `lora_A` tensors in the file.
    public let updates: [LoRAUpdate]
    /// Whole tensors that replace the base's, named as in the model
    /// (`transformer.h.0.self_attention.query_key_value.bias`).
    public let replacements: [SourceTensor]

    /// `init_lora_weights` values whose initialisation subtracted something from the base weights: the adapter is a
    /// delta on a modified base, not on the base the user has.
    static let baseMutatingInits: Set<String> = ["pissa", "olora", "corda", "loftq", "lora_ga"]

    /// Config keys of PEFT variants whose merge is not `W + s·B·A`; any truthy value is refused.
    static let unsupportedVariants = [
        "use_dora", "lora_bias", "alora_invocation_tokens", "layer_replication", "target_parameters",
        "trainable_token_indices", "arrow_config", "use_bdlora", "velora_config", "monteclora_config", "kasa_config",
        "use_qalora",
    ]

    /// Reduces an adapter folder (parsed by `AdapterFolder`) to its merge. A and B are copied (widened for the
    /// products); replacements stay lazy views.
    /// - Throws: `loraUnsupported` for features bloomkit does not merge (naming the feature or tensor),
    ///   `loraInvalidAdapter` when shapes contradict the layout or a module is not one target_modules selects.
    public init(folder: AdapterFolder) throws {
        let config = folder.config
        path = folder.path
        name = folder.path.split(separator: "/").last.map(String.init) ?? folder.path
        func unsupported(_ message: String, _ location: String? = nil) -> BloomError {
            BloomError(.loraUnsupported, message, path: folder.path, location: location)
        }
        for key in LoRAAdapter.unsupportedVariants where LoRAAdapter.isTruthy(config.json[key]) {
            let what = key == "use_dora" ? "DoRA (use_dora)" : key
            throw unsupported("the adapter uses \(what), whose merge bloomkit does not implement", key)
        }
        if let initName = config.initLoraWeights?.string?.lowercased(),
           LoRAAdapter.baseMutatingInits.contains(initName) || initName.hasPrefix("pissa") {
            throw unsupported("init_lora_weights '\(initName)' changed the base weights when the adapter was " +
                              "created, so the adapter is not a delta on the original base; re-save it with " +
                              "path_initial_model_for_weight_conversion", "init_lora_weights")
        }
        baseModelNameOrPath = config.baseModelNameOrPath.flatMap { $0.isEmpty ? nil : $0 }

        // Errors of the shape checks and tensor reads below name the adapter's folder too.
        updates = try Self.naming(folder.path) { try folder.modules.map { module in
            if module.magnitude != nil {
                throw unsupported("module '\(module.path)' has a DoRA magnitude vector (use_dora)", module.path)
            }
            if module.bBias != nil {
                throw unsupported("module '\(module.path)' has a lora_B bias (lora_bias)", module.path)
            }
            if module.isEmbedding { throw unsupported("module '\(module.path)' is an embedding LoRA", module.path) }
            // PEFT wraps only the modules target_modules selects and ignores saved weights of any other: merging
            // them would change a layer the adapter never trained.
            guard config.targets(module: module.path) else {
                throw BloomError(.loraInvalidAdapter,
                                 "module '\(module.path)' has LoRA weights but target_modules " +
                                 "\(JSONWriter.string(config.json["target_modules"] ?? .null)) does not select it",
                                 path: folder.path, location: module.path)
            }
            let layout: LoRAUpdate.Layout
            let rank = config.rank(forModule: module.path)
            let alpha = config.alpha(forModule: module.path)
            let divisor: Double
            switch folder.layout {
            case .current:
                layout = .linear
                divisor = config.useRslora ? Double(rank).squareRoot() : Double(rank)
            case .mergedLinear2023:
                // PEFT ≤ 0.2: scaling alpha/r; the convolution's groups follow from the shapes.
                guard let enabled = config.enableLora, let aRows = module.a.shape.first, module.b.shape.count == 3,
                      module.b.shape[1] > 0, aRows % module.b.shape[1] == 0 else {
                    throw BloomError(.loraInvalidAdapter,
                                     "lora_A \(module.a.shape) and lora_B \(module.b.shape) do not form a grouped " +
                                     "convolution",
                                     path: folder.path, location: module.path)
                }
                layout = .fused(enabled: enabled, groups: aRows / module.b.shape[1])
                divisor = Double(rank)
            }
            return try LoRAUpdate(weightName: module.path + ".weight", a: module.a.floats(), aShape: module.a.shape,
                                  b: module.b.floats(), bShape: module.b.shape, rank: rank,
                                  scaling: Float(alpha / divisor), layout: layout)
        } }
        replacements = folder.replacements.map { name, view in
            SourceTensor(name: name, dtype: view.dtype, shape: view.shape, readRows: SourceTensor(view).readRows)
        }
    }

    /// Runs `body`, giving its errors the adapter's path when they have none.
    private static func naming<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as BloomError { throw error.at(path: path) }
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
}
