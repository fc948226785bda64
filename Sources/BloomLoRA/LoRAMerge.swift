import BloomCore

/// The base model a merge starts from.
public struct MergeBase: Sendable {
    /// Every tensor of the base, names and order as stored.
    public var tensors: [SourceTensor]
    /// True when the base uses the word embeddings as output embeddings (`tie_word_embeddings`, BLOOM's default);
    /// an `lm_head.weight` the base stores anyway is then that same tensor and is left out of the merged model.
    public var tiedEmbeddings: Bool
    /// The path the user gave for the base, and `_name_or_path` from its config.json if any: what an adapter's
    /// `base_model_name_or_path` is compared with.
    public var path: String
    public var nameOrPath: String?

    public init(tensors: [SourceTensor], tiedEmbeddings: Bool, path: String, nameOrPath: String? = nil) {
        self.tensors = tensors
        self.tiedEmbeddings = tiedEmbeddings
        self.path = path
        self.nameOrPath = nameOrPath
    }
}

/// A base with adapters applied, as a list of lazily merged tensors: reading rows of a changed tensor reads those rows
/// of the base (or of its replacement) and adds each adapter's delta for those rows only, so a writer streaming row
/// chunks holds one chunk plus the adapters, never the model.
public struct MergedModel: Sendable {
    /// The base's tensors in the base's order and spelling, adapters applied; `lm_head.weight` is appended when an
    /// adapter replaced one of the tied embeddings (PEFT then sets `tie_word_embeddings` false).
    public let tensors: [SourceTensor]
    /// Names of the base tensors an adapter changed or replaced (the base's spelling; an appended `lm_head.weight` is
    /// new).
    public let changedTensors: [String]
    /// True when the merge broke the base's embedding tie: write `lm_head.weight` and set `tie_word_embeddings` false.
    public let untiedEmbeddings: Bool
    /// Things the user should know that do not stop the merge (e.g. an adapter made for another base).
    public let warnings: [String]
    /// The adapters applied, in order (for provenance: names and scales).
    public let adapters: [LoRAAdapter]
}

/// Applies PEFT LoRA adapters to a base, in order, exactly as PEFT's `merge_and_unload` would (in f32, one rounding
/// when the result is written).
public enum LoRAMerge {
    /// Checks every adapter against the base and returns the merged view. Nothing is computed until rows are read.
    /// - Parameters:
    ///   - adapters: applied in order: each sees the previous ones' result (a replacement replaces what came before; a
    ///     low-rank update adds to it).
    ///   - base: the base tensors and how to name and tie them.
    ///   - storedAs: the dtype the merged tensors will be stored in (nil: each keeps the base's); a merged value
    ///     past its largest finite value is an overflow.
    ///   - nonFinite: where reading rows records each tensor with a NaN, an infinity or an overflow; without it,
    ///     reading such rows throws `loraNonFinite` naming the tensor.
    /// - Returns: the merged tensors, the names of the changed ones, and warnings.
    /// - Throws: `loraMissingTarget` naming the first tensor an adapter changes that the base lacks,
    ///   `loraShapeMismatch` naming the first whose shape does not fit, `loraUnsupported` for LoRA on the output head
    ///   of a model whose embeddings are tied.
    public static func apply(_ adapters: [LoRAAdapter], to base: MergeBase, storedAs: DType? = nil,
                             nonFinite: NonFiniteLog? = nil) throws -> MergedModel {
        enum Step { case add(LoRAUpdate, adapter: String), replace(SourceTensor) }

        let headName = "lm_head.weight"
        // A tied base's lm_head (some fine-tunes save the shared tensor twice) is the word embeddings: not written
        // again.
        var tensors = base.tiedEmbeddings ? base.tensors.filter { $0.name != headName } : base.tensors
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        let embedding = ["transformer.word_embeddings.weight",
                         "word_embeddings.weight"].lazy.compactMap { index[$0] }.first
        var steps: [Int: [Step]] = [:]
        var untied = false
        var warnings: [String] = []

        /// The base tensor an adapter's parameter name refers to: as spelled, or with/without the `transformer.`
        /// prefix (PEFT always wraps BloomForCausalLM; Megatron-era files saved BloomModel without the prefix).
        func resolve(_ name: String) -> Int? {
            if let i = index[name] { return i }
            if name.hasPrefix("transformer."), let i = index[String(name.dropFirst("transformer.".count))] { return i }
            return index["transformer." + name]
        }
        /// Gives a tied base its own output head, a copy of the word embeddings as they were before any adapter
        /// (PEFT's `merge_and_unload` finds the two no longer shared and sets `tie_word_embeddings` false).
        func untie() -> Int? {
            if let h = index[headName] { return h }
            guard base.tiedEmbeddings, let e = embedding else { return nil }
            let words = tensors[e]
            untied = true
            index[headName] = tensors.count
            tensors.append(SourceTensor(name: headName, dtype: words.dtype, shape: words.shape,
                                        readRows: words.readRows))
            return tensors.count - 1
        }

        for adapter in adapters {
            if let wanted = adapter.baseModelNameOrPath, !LoRAMerge.names(wanted, base: base) {
                warnings.append("adapter '\(adapter.name)' was made for '\(wanted)', which does not look like the " +
                                "base given ('\(base.path)')")
            }
            for update in adapter.updates {
                if update.weightName == headName, base.tiedEmbeddings {
                    throw BloomError(.loraUnsupported,
                                     "LoRA on lm_head of a base whose output embeddings are tied to the word " +
                                     "embeddings is not supported",
                                     path: adapter.path, location: headName)
                }
                guard let i = resolve(update.weightName) else {
                    throw BloomError(.loraMissingTarget,
                                     "the adapter changes '\(update.weightName)', which the base does not have",
                                     path: adapter.path, location: update.weightName)
                }
                let shape = tensors[i].shape
                guard shape == [update.outFeatures, update.inFeatures] else {
                    throw BloomError(.loraShapeMismatch,
                                     "lora_B·lora_A of '\(update.weightName)' is [\(update.outFeatures), " +
                                     "\(update.inFeatures)] but the base tensor '\(tensors[i].name)' is \(shape)",
                                     path: adapter.path, location: update.weightName)
                }
                steps[i, default: []].append(.add(update, adapter: adapter.path))
            }
            for replacement in adapter.replacements {
                guard let i = resolve(replacement.name) ?? (replacement.name == headName ? untie() : nil) else {
                    throw BloomError(.loraMissingTarget,
                                     "the adapter replaces '\(replacement.name)', which the base does not have",
                                     path: adapter.path, location: replacement.name)
                }
                guard tensors[i].shape == replacement.shape else {
                    throw BloomError(.loraShapeMismatch,
                                     "the adapter's '\(replacement.name)' is \(replacement.shape) but the base " +
                                     "tensor '\(tensors[i].name)' is \(tensors[i].shape)",
                                     path: adapter.path, location: replacement.name)
                }
                if i == embedding { _ = untie() }
                steps[i, default: []].append(.replace(replacement))
            }
        }

        var changed: [String] = []
        for (i, list) in steps.sorted(by: { $0.key < $1.key }) {
            let original = tensors[i]
            changed.append(original.name)
            // Only what follows the last replacement matters.
            let lastReplace = list.lastIndex { if case .replace = $0 { return true }; return false }
            var source = original
            if let r = lastReplace, case .replace(let replacement) = list[r] { source = replacement }
            let updates: [(LoRAUpdate, String)] = list[(lastReplace.map { $0 + 1 } ?? 0)...].compactMap {
                if case .add(let u, let path) = $0 { return (u, path) }
                return nil
            }
            let read = source.readRows
            // The largest magnitude the stored dtype holds: a merged value past it would be written as an infinity
            // (f16 tops out at 65504), one that is already NaN or infinite poisons every output it reaches.
            let limit = NonFiniteLog.limit(of: storedAs ?? original.dtype)
            tensors[i] = SourceTensor(name: original.name, dtype: original.dtype,
                                      shape: original.shape) { start, count, dst in
                try read(start, count, dst)
                for (update, _) in updates { update.addDelta(rows: start, count: count, into: dst) }
                guard updates.isEmpty || dst.allSatisfy({ abs($0) <= limit }) else {
                    let k = dst.firstIndex { !(abs($0) <= limit) } ?? 0
                    let finding = NonFiniteLog.Finding(tensor: original.name, value: dst[k],
                                                       row: start + k / max(1, dst.count / max(count, 1)),
                                                       limit: limit, adapter: updates.last?.1)
                    guard let nonFinite else {
                        throw BloomError(.loraNonFinite, "merging gives \(finding.value) in row \(finding.row) of "
                                         + "'\(original.name)' (\((storedAs ?? original.dtype).rawValue) holds at most "
                                         + "\(limit)): the adapter's scaling or weights overflow",
                                         path: finding.adapter, location: original.name)
                    }
                    nonFinite.record(finding)
                    return
                }
            }
        }
        return MergedModel(tensors: tensors, changedTensors: changed, untiedEmbeddings: untied, warnings: warnings,
                           adapters: adapters)
    }

    /// Whether `wanted` (an adapter's `base_model_name_or_path`, a hub id or a path) plausibly names the base: equal to
    /// the path given or to the config's `_name_or_path`, its last component is a component of the base path, or the
    /// base
    /// path is the Hugging Face cache folder of that hub id (`models--ORG--NAME`).
    static func names(_ wanted: String, base: MergeBase) -> Bool {
        let trimmed = wanted.hasSuffix("/") ? String(wanted.dropLast()) : wanted
        if trimmed == base.path || trimmed == base.nameOrPath { return true }
        let components = base.path.split(separator: "/").map(String.init)
        if let last = trimmed.split(separator: "/").last.map(String.init), components.contains(last) { return true }
        return components.contains("models--" + trimmed.replacingOccurrences(of: "/", with: "--"))
    }
}
