import BloomCore
import BloomGGUF

extension BloomError.Code {
    /// A LoRA adapter GGUF that is not one (keys, tensor names, pairs) or does not fit the model it is applied to.
    public static let loraAdapterFile: Self = "lora-adapter-file"
}

extension BloomLoRAProfile {
    /// One pair of an adapter file: base weight `weight` ([in, out] in ggml order) gets `s·B·A`.
    public struct Pair {
        public let weight: String
        public let a: GGUFTensor  // ne [in, r]
        public let b: GGUFTensor  // ne [r, out]
        public var rank: Int { a.ne[1] }
        public var inFeatures: Int { a.ne[0] }
        public var outFeatures: Int { b.ne[1] }
    }

    /// The checked content of an adapter GGUF.
    public struct File {
        /// `adapter.lora.alpha` (0 when absent, as llama.cpp reads it).
        public let alpha: Float
        /// The base the file records (bloom.* keys; nil when it records none, as llama.cpp's converter writes it).
        public let base: (embedding: Int, feedForward: Int, blocks: Int, heads: Int)?
        /// In file order of their lora_a tensors.
        public let pairs: [Pair]

        /// llama.cpp's scale of a pair: `scale · alpha / r`, or `scale` when alpha is 0.
        public func scale(of pair: Pair, userScale: Float) -> Float {
            alpha != 0 ? userScale * alpha / Float(pair.rank) : userScale
        }
    }

    /// Reads an adapter file's keys and pairs as llama.cpp's loader does (general.type "adapter", adapter.type
    /// "lora", architecture "bloom", every tensor a lora_a/lora_b of a block's linear weight, both present, A's rank
    /// equal to B's), and checks the shapes against `model` (or, without one, against the base the file records).
    /// - Throws: `.loraAdapterFile` naming the key or tensor.
    public static func read(_ file: GGUFFile, model: BloomHyperParameters?) throws -> File {
        func fail(_ message: String, _ location: String? = nil) -> BloomError {
            BloomError(.loraAdapterFile, message, path: file.path, location: location)
        }
        func value<T>(_ key: String, _ get: (GGUFMetadata) -> (String) throws -> T) throws -> T? {
            do { return try file.metadata.optional(key, get) } catch let e as BloomError { throw fail(e.message, key) }
        }
        func quoted(_ s: String?) -> String { s.map { "'\($0)'" } ?? "missing" }
        let kind = try value(BloomGGUFKeys.type, GGUFMetadata.string)
        guard kind == generalType else {
            throw fail("general.type is \(quoted(kind)), not 'adapter': a LoRA adapter GGUF comes from bloomkit convert"
                       + " ADAPTER_DIR (or llama.cpp's convert_lora_to_gguf.py)", BloomGGUFKeys.type)
        }
        let type = try value(adapterTypeKey, GGUFMetadata.string)
        guard type == lora else { throw fail("adapter.type is \(quoted(type)), not 'lora'", adapterTypeKey) }
        let arch = try value(BloomGGUFKeys.architecture, GGUFMetadata.string)
        guard arch == "bloom" else {
            throw fail("the adapter is for architecture \(quoted(arch)), not bloom", BloomGGUFKeys.architecture)
        }
        let alpha = try value(alphaKey, GGUFMetadata.float32) ?? 0
        guard alpha.isFinite else { throw fail("adapter.lora.alpha is \(alpha)", alphaKey) }

        let keys = [BloomGGUFKeys.embeddingLength, BloomGGUFKeys.feedForwardLength, BloomGGUFKeys.blockCount,
                    BloomGGUFKeys.headCount]
        let recorded = try keys.compactMap { try value($0, GGUFMetadata.uint32).map(Int.init) }
        let base = recorded.count == 4 ? (recorded[0], recorded[1], recorded[2], recorded[3]) : nil
        if let model, let base {
            let have = [model.embeddingLength, model.feedForwardLength, model.blockCount, model.headCount]
            if have != recorded {
                throw fail("the adapter was made for a base with hidden \(base.0), feed-forward \(base.1),"
                           + " \(base.2) blocks and \(base.3) heads; the model has \(have[0]), \(have[1]), \(have[2])"
                           + " and \(have[3])")
            }
        }
        let shapes: BloomHyperParameters? = try model ?? base.map { b in
            do {
                return try BloomHyperParameters(vocabSize: 1, contextLength: 1, embeddingLength: b.0,
                                                feedForwardLength: b.1, blockCount: b.2, headCount: b.3,
                                                layerNormEpsilon: 1e-5)
            } catch let e as BloomError { throw fail("the recorded base is not a BLOOM: \(e.message)") }
        }

        var halves: [String: (a: GGUFTensor?, b: GGUFTensor?)] = [:]
        var order: [String] = []
        for t in file.tensors {
            guard let (weight, isA) = split(t.name), adaptable(weight) != nil else {
                throw fail("tensor '\(t.name)' is not a lora_a/lora_b factor of a block's linear weight", t.name)
            }
            if halves[weight] == nil { order.append(weight) }
            if isA { halves[weight, default: (nil, nil)].a = t } else { halves[weight, default: (nil, nil)].b = t }
        }
        let pairs = try order.map { weight -> Pair in
            guard let half = halves[weight], let a = half.a, let b = half.b else {
                throw fail("'\(weight)' has only one of lora_a and lora_b", weight)
            }
            guard a.ne.count == 2, b.ne.count == 2, a.ne[1] == b.ne[0], a.ne[1] >= 1 else {
                throw fail("lora_a ne \(a.ne) and lora_b ne \(b.ne) of '\(weight)' are not [in, r] and [r, out]",
                           weight)
            }
            if let shapes {
                guard let ne = weightNE(weight, shapes) else {
                    throw fail("'\(weight)' is past the base's \(shapes.blockCount) blocks (wrong base model?)", weight)
                }
                guard a.ne[0] == ne[0], b.ne[1] == ne[1] else {
                    throw fail("lora_a ne \(a.ne) and lora_b ne \(b.ne) do not fit '\(weight)' (ne \(ne))"
                               + " (wrong base model?)", weight)
                }
            }
            return Pair(weight: weight, a: a, b: b)
        }
        return File(alpha: alpha, base: base, pairs: pairs)
    }
}
