import BloomArch
import BloomCore
import BloomGGUF

/// The recommended sampler settings of a GGUF file (`general.sampling.*`), found as gguf-py's `Metadata.load` finds
/// them: from the model folder's generation_config.json (`temperature` → `temp`, `repetition_penalty` →
/// `penalty_repeat`, the others by their own names), then from a `--metadata` override file by their GGUF keys (a
/// null there removes the setting). A value that gguf-py could not write as its key's type (a fraction for an INT32,
/// a number past FLOAT32's range, a string for a number) is left out and named in `skipped`.
public struct SamplingMetadata: Sendable, Equatable {
    /// The settings found, by GGUF key.
    public private(set) var values: [String: GGUFValue] = [:]
    /// What was left out, one line each ("generation_config.json's top_k 0.5 cannot be written as INT32; …").
    public private(set) var skipped: [String] = []

    public init() {}

    /// Each key with the generation_config.json fields it is read from (the first present wins, as gguf-py's nested
    /// `dict.get` does) and its type, in gguf-py's order (`set_gguf_meta_model`).
    static let table: [(key: String, fields: [String], type: GGUFValueType)] = [
        (BloomGGUFKeys.samplingSequence, ["sequence"], .string),
        (BloomGGUFKeys.samplingTopK, ["top_k"], .int32),
        (BloomGGUFKeys.samplingTopP, ["top_p"], .float32),
        (BloomGGUFKeys.samplingMinP, ["min_p"], .float32),
        (BloomGGUFKeys.samplingXTCProbability, ["xtc_probability"], .float32),
        (BloomGGUFKeys.samplingXTCThreshold, ["xtc_threshold"], .float32),
        (BloomGGUFKeys.samplingTemp, ["temperature"], .float32),
        (BloomGGUFKeys.samplingPenaltyLastN, ["penalty_last_n"], .int32),
        (BloomGGUFKeys.samplingPenaltyRepeat, ["penalty_repeat", "repetition_penalty"], .float32),
        (BloomGGUFKeys.samplingMirostat, ["mirostat"], .int32),
        (BloomGGUFKeys.samplingMirostatTau, ["mirostat_tau"], .float32),
        (BloomGGUFKeys.samplingMirostatEta, ["mirostat_eta"], .float32),
    ]

    /// Takes the settings generation_config.json holds (`config`: its object; anything else holds none).
    public mutating func apply(generationConfig config: JSONValue) {
        for row in Self.table {
            guard let value = PublishMetadata.firstPresent(config, row.fields) else { continue }
            let field = row.fields.first { config[$0] != nil } ?? row.fields[0]
            set(row.key, value, type: row.type, from: "generation_config.json's \(field)")
        }
    }

    /// Takes the `general.sampling.*` keys of a `--metadata` file's object.
    public mutating func apply(override: JSONValue) {
        for row in Self.table {
            guard let value = override[row.key] else { continue }
            set(row.key, value, type: row.type, from: "the metadata file's \(row.key)")
        }
    }

    /// The GGUF entries, in gguf-py's order.
    public var metadataEntries: [(String, GGUFValue)] {
        Self.table.compactMap { row in values[row.key].map { (row.key, $0) } }
    }

    private mutating func set(_ key: String, _ value: JSONValue, type: GGUFValueType, from what: String) {
        if value.isNull {
            values[key] = nil
            return
        }
        if let converted = Self.convert(value, to: type) {
            // gguf-py's add_string writes nothing for an empty string.
            values[key] = converted == .string("") ? nil : converted
        } else {
            values[key] = nil
            skipped.append("\(what) \(JSONWriter.string(value)) cannot be written as \(type); it is left out")
        }
    }

    /// `value` as gguf-py packs it for `type`: INT32 from an integer literal in range, FLOAT32 from any finite number
    /// within FLOAT32's range (rounded to nearest), STRING from a string.
    static func convert(_ value: JSONValue, to type: GGUFValueType) -> GGUFValue? {
        switch (type, value) {
        case (.int32, .number(let literal)):
            return Int32(literal).map(GGUFValue.int32)
        case (.float32, .number(let literal)):
            guard let double = Double(literal), double.isFinite else { return nil }
            let float = Float(double)
            return float.isFinite ? .float32(float) : nil
        case (.string, .string(let text)):
            return .string(text)
        default:
            return nil
        }
    }
}
