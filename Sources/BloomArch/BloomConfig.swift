// BLOOM's hyper-parameters as transformers' configuration_bloom.py defines them. config.json spells some of them two
// ways (attribute_map num_hidden_layers → n_layer, num_attention_heads → n_head; kwarg n_embed → hidden_size); both
// are accepted, and a file that gives both spellings with different values is refused.
import BloomCore

extension BloomError.Code {
    /// config.json is not a usable BLOOM configuration (missing or mistyped key, inconsistent sizes, not BLOOM).
    public static let bloomConfig: Self = "bloom-config"
}

/// The BLOOM architecture of a model: sizes, flags and special token ids.
public struct BloomConfig: Sendable, Equatable {
    /// Sizes past these are not a BLOOM anyone can run, and keep later size arithmetic far from overflow.
    public static let maxHiddenSize = 1 << 17
    public static let maxLayerCount = 1 << 12
    public static let maxVocabSize = 1 << 24

    /// `hidden_size` | `n_embed` (BLOOM-7B1: 4096).
    public var hiddenSize: Int
    /// `n_layer` | `num_hidden_layers`.
    public var layerCount: Int
    /// `n_head` | `num_attention_heads`; divides `hiddenSize`.
    public var headCount: Int
    /// `vocab_size`: rows of word_embeddings (250880 for the released models; the tokenizer may have fewer).
    public var vocabSize: Int
    /// `layer_norm_epsilon` (default 1e-5).
    public var layerNormEpsilon: Double
    /// `apply_residual_connection_post_layernorm` (default false): the residual is taken after the layer norm.
    public var applyResidualConnectionPostLayernorm: Bool
    /// `tie_word_embeddings` (default true): the LM head is word_embeddings.
    public var tieWordEmbeddings: Bool
    /// `bos_token_id` (default 1).
    public var bosTokenID: Int?
    /// `eos_token_id` (default 2; the first one when the file gives a list).
    public var eosTokenID: Int?
    /// `pad_token_id`, when given.
    public var padTokenID: Int?
    /// `unk_token_id`, when given.
    public var unkTokenID: Int?
    /// `dtype` | `torch_dtype` as written ("float16", "bfloat16", "float32"), when given.
    public var dtype: String?

    /// Per-head width: hidden / heads.
    public var headDim: Int { hiddenSize / headCount }
    /// The MLP's inner width: always 4 × hidden in BLOOM.
    public var ffnSize: Int { 4 * hiddenSize }

    /// A configuration from values; call `validate()` before trusting values that came from a file.
    public init(hiddenSize: Int, layerCount: Int, headCount: Int, vocabSize: Int, layerNormEpsilon: Double = 1e-5,
                applyResidualConnectionPostLayernorm: Bool = false, tieWordEmbeddings: Bool = true,
                bosTokenID: Int? = 1, eosTokenID: Int? = 2, padTokenID: Int? = nil, unkTokenID: Int? = nil,
                dtype: String? = nil) {
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.vocabSize = vocabSize
        self.layerNormEpsilon = layerNormEpsilon
        self.applyResidualConnectionPostLayernorm = applyResidualConnectionPostLayernorm
        self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.padTokenID = padTokenID
        self.unkTokenID = unkTokenID
        self.dtype = dtype
    }

    /// Reads a parsed config.json.
    /// - Parameters:
    ///   - json: the file's top-level object.
    ///   - path: named in errors.
    /// - Throws: `.bloomConfig` naming the key: missing sizes, wrong types, conflicting aliases, a `model_type`
    ///   other than "bloom", or values that fail `validate()`.
    public init(json: JSONValue, path: String? = nil) throws {
        let keys = ConfigKeys(json: json, path: path)
        guard json.object != nil else { throw BloomError(.bloomConfig, "config is not a JSON object", path: path) }
        if let type = json["model_type"], type.string != "bloom" {
            throw keys.fail("model_type", "model_type is \(JSONWriter.string(type)), not \"bloom\"")
        }
        var eos: Int? = 2
        if let list = json["eos_token_id"]?.array {
            guard let first = list.first?.int else { throw keys.fail("eos_token_id", "eos_token_id is an empty or non-integer list") }
            eos = first
        } else if json["eos_token_id"] != nil {
            eos = try keys.int("eos_token_id")
        }
        self.init(hiddenSize: try keys.required(["hidden_size", "n_embed"]),
                  layerCount: try keys.required(["n_layer", "num_hidden_layers"]),
                  headCount: try keys.required(["n_head", "num_attention_heads"]),
                  vocabSize: try keys.required(["vocab_size"]),
                  layerNormEpsilon: try keys.double("layer_norm_epsilon") ?? 1e-5,
                  applyResidualConnectionPostLayernorm: try keys.bool("apply_residual_connection_post_layernorm") ?? false,
                  tieWordEmbeddings: try keys.bool("tie_word_embeddings") ?? true,
                  bosTokenID: try json["bos_token_id"] == nil ? 1 : keys.int("bos_token_id"),
                  eosTokenID: eos,
                  padTokenID: try keys.int("pad_token_id"),
                  unkTokenID: try keys.int("unk_token_id"),
                  dtype: try keys.string(["dtype", "torch_dtype"]))
        do {
            try validate()
        } catch let error as BloomError {
            throw path.map { error.at(path: $0) } ?? error
        }
    }

    /// Reads and checks a config.json file.
    /// - Throws: `.io`, `.invalidJSON` or `.bloomConfig`, with the path.
    public init(path: String) throws {
        try self.init(json: JSONFile.read(path), path: path)
    }

    /// Positive sizes within the named limits, hidden divisible by heads, a positive finite epsilon, ids ≥ 0.
    /// - Throws: `.bloomConfig` naming the value and the limit.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ message: @autoclosure () -> String) throws {
            if !ok { throw BloomError(.bloomConfig, message(), location: "key '\(key)'") }
        }
        try check(hiddenSize > 0 && hiddenSize <= Self.maxHiddenSize, "hidden_size",
                  "hidden size \(hiddenSize) is not in 1...\(Self.maxHiddenSize)")
        try check(layerCount > 0 && layerCount <= Self.maxLayerCount, "n_layer",
                  "layer count \(layerCount) is not in 1...\(Self.maxLayerCount)")
        try check(headCount > 0 && headCount <= hiddenSize, "n_head",
                  "head count \(headCount) is not in 1...\(hiddenSize) (the hidden size)")
        try check(hiddenSize % headCount == 0, "n_head",
                  "hidden size \(hiddenSize) is not divisible by the head count \(headCount)")
        try check(vocabSize > 0 && vocabSize <= Self.maxVocabSize, "vocab_size",
                  "vocabulary size \(vocabSize) is not in 1...\(Self.maxVocabSize)")
        // GGUF and the runtime hold epsilon as f32: it must still be positive and finite there (1e-95 is not).
        try check(Float(layerNormEpsilon).isFinite && Float(layerNormEpsilon) > 0, "layer_norm_epsilon",
                  "layer_norm_epsilon \(layerNormEpsilon) is not a positive number in f32 (\(Float.leastNonzeroMagnitude)...\(Float.greatestFiniteMagnitude))")
        for (key, id) in [("bos_token_id", bosTokenID), ("eos_token_id", eosTokenID),
                          ("pad_token_id", padTokenID), ("unk_token_id", unkTokenID)] {
            if let id { try check(id >= 0, key, "\(key) \(id) is negative") }
        }
    }
}

/// Typed reads of config.json keys; null counts as absent (transformers writes `"pad_token_id": null`).
private struct ConfigKeys {
    let json: JSONValue
    let path: String?

    func fail(_ key: String, _ message: String) -> BloomError {
        BloomError(.bloomConfig, message, path: path, location: "key '\(key)'")
    }

    private func value(_ key: String) -> JSONValue? {
        guard let v = json[key], !v.isNull else { return nil }
        return v
    }

    func int(_ key: String) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.int else { throw fail(key, "\(key) is \(JSONWriter.string(v)), not an integer") }
        return i
    }

    func double(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.double else { throw fail(key, "\(key) is \(JSONWriter.string(v)), not a number") }
        return d
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.bool else { throw fail(key, "\(key) is \(JSONWriter.string(v)), not true or false") }
        return b
    }

    func string(_ keys: [String]) throws -> String? {
        for key in keys {
            guard let v = value(key) else { continue }
            guard let s = v.string else { throw fail(key, "\(key) is \(JSONWriter.string(v)), not a string") }
            return s
        }
        return nil
    }

    /// The value under any of the alias spellings; two spellings with different values are an error.
    func required(_ aliases: [String]) throws -> Int {
        var found: (key: String, value: Int)?
        for key in aliases {
            guard let v = try int(key) else { continue }
            if let found, found.value != v { throw fail(key, "\(key) is \(v) but \(found.key) is \(found.value)") }
            found = (key, v)
        }
        guard let found else { throw fail(aliases[0], "missing \(aliases.joined(separator: " or "))") }
        return found.value
    }
}
