// adapter_config.json of a PEFT LoRA adapter (peft tuners/lora/config.py LoraConfig + config.py PeftConfig).
// Only what reading and merging need is typed; the whole object stays available as `json`.
import BloomCore

/// A PEFT LoRA configuration.
public struct AdapterConfig: Sendable {
    /// `target_modules`: module-name suffixes, a full-match regex, or PEFT's "all-linear" keyword.
    public enum TargetModules: Sendable, Equatable {
        case names([String])
        case regex(String)
        case allLinear
    }

    /// Patterns from the file are matched by `LinearRegex` (time linear in the name), so a hostile adapter_config.json
    /// cannot make a backtracking engine run for minutes.
    private let targetRegex: LinearRegex?
    private let rankRegexes: [LinearRegex]
    private let alphaRegexes: [LinearRegex]

    /// The whole file as stored.
    public let json: JSONValue
    /// `peft_type`; always "LORA" here (other types are refused).
    public let peftType: String
    /// `task_type`, e.g. "CAUSAL_LM".
    public let taskType: String?
    /// `base_model_name_or_path`: the hub id or path of the base the adapter was trained on.
    public let baseModelNameOrPath: String?
    /// `r` (PEFT default 8).
    public let r: Int
    /// The largest |lora_alpha| read. Published adapters use 8 to a few hundred (scaling alpha/r of 0.5 to 4); an
    /// alpha past 2^20 only overflows the merged weights (a 1e38 alpha turns every changed weight into infinity).
    public static let maxAlpha: Double = 1_048_576

    /// `lora_alpha` (PEFT default 8).
    public let loraAlpha: Double
    public let targetModules: TargetModules?
    /// `use_rslora`: scaling is alpha/√r instead of alpha/r.
    public let useRslora: Bool
    /// `use_dora`: weight-decomposed LoRA (a magnitude vector per module).
    public let useDora: Bool
    /// `rank_pattern` / `alpha_pattern`: per-module overrides, keys in file order (the first matching key wins).
    public let rankPattern: [(pattern: String, rank: Int)]
    public let alphaPattern: [(pattern: String, alpha: Double)]
    /// `fan_in_fan_out` as stored. PEFT forces it off for nn.Linear targets (all of BLOOM's), so it is a hint only.
    public let fanInFanOut: Bool
    /// `bias`: "none", "all" or "lora_only" (saved biases are full values that replace the base's).
    public let bias: String
    /// `lora_bias`: lora_B has a bias.
    public let loraBias: Bool
    /// `modules_to_save`: modules saved whole, replacing the base's.
    public let modulesToSave: [String]
    /// `enable_lora` (PEFT ≤ 0.2.0 MergedLinear): which row blocks of a fused projection carry LoRA.
    public let enableLora: [Bool]?
    /// `init_lora_weights` as stored (true, false, "gaussian", "pissa", "olora", "loftq", …).
    public let initLoraWeights: JSONValue?
    /// `layers_to_transform` (an int or a list).
    public let layersToTransform: [Int]?

    /// Types a parsed adapter_config.json.
    /// - Throws: `.adapterUnsupported` for a `peft_type` other than LORA; `.adapterConfig` naming the key for
    ///   wrong types, r ≤ 0, a non-finite alpha or a rank/alpha pattern key `LinearRegex` cannot compile.
    public init(json: JSONValue, path: String? = nil) throws {
        func fail(_ key: String, _ message: String) -> BloomError {
            BloomError(.adapterConfig, message, path: path, location: "key '\(key)'")
        }
        func value(_ key: String) -> JSONValue? {
            guard let v = json[key], !v.isNull else { return nil }
            return v
        }
        func string(_ key: String) throws -> String? {
            guard let v = value(key) else { return nil }
            guard let s = v.string else { throw fail(key, "\(key) is \(JSONWriter.string(v)), not a string") }
            return s
        }
        func bool(_ key: String) throws -> Bool {
            guard let v = value(key) else { return false }
            guard let b = v.bool else { throw fail(key, "\(key) is \(JSONWriter.string(v)), not true or false") }
            return b
        }
        func strings(_ key: String) throws -> [String]? {
            guard let v = value(key) else { return nil }
            if let s = v.string { return [s] }
            guard let list = v.array, list.allSatisfy({ $0.string != nil }) else {
                throw fail(key, "\(key) is \(JSONWriter.string(v)), not a string or a list of strings")
            }
            return list.compactMap(\.string)
        }

        guard json.object != nil else {
            throw BloomError(.adapterConfig, "adapter config is not a JSON object", path: path)
        }
        self.json = json
        guard let type = try string("peft_type") else { throw fail("peft_type", "missing peft_type") }
        guard type == "LORA" else {
            throw BloomError(.adapterUnsupported,
                             "peft_type is \(type); bloomkit merges LoRA adapters only (peft_type LORA)", path: path,
                             location: "key 'peft_type'")
        }
        peftType = type
        taskType = try string("task_type")
        baseModelNameOrPath = try string("base_model_name_or_path")

        // Absent keys take PEFT's defaults (r 8, lora_alpha 8); present ones must be well-typed.
        var rank = 8, alpha = 8.0
        if let v = value("r") {
            guard let i = v.int, i > 0 else { throw fail("r", "r is \(JSONWriter.string(v)), not a positive integer") }
            rank = i
        }
        if let v = value("lora_alpha") {
            guard let d = v.double, d.isFinite else {
                throw fail("lora_alpha", "lora_alpha is \(JSONWriter.string(v)), not a number")
            }
            guard abs(d) <= Self.maxAlpha else {
                throw fail("lora_alpha", "lora_alpha is \(JSONWriter.string(v)), past the limit of \(Self.maxAlpha)")
            }
            alpha = d
        }
        r = rank
        loraAlpha = alpha

        /// A pattern key from the file compiled as `template` makes it, or an error naming the key and the pattern.
        func compile(_ key: String, _ pattern: String, _ template: (String) -> String) throws -> LinearRegex {
            do {
                return try LinearRegex(template(pattern))
            } catch let error as BloomError {
                throw fail(key, "\(key) pattern '\(pattern)' is not a regular expression bloomkit matches: "
                           + error.message)
            }
        }
        var targetRegex: LinearRegex?
        if let v = value("target_modules") {
            if let s = v.string {
                targetModules = s == "all-linear" ? .allLinear : .regex(s)
                // Only a consistency check rests on it (the weights say which modules were adapted): a pattern
                // outside LinearRegex's syntax (a lookahead) checks nothing rather than refusing the adapter.
                if s != "all-linear" { targetRegex = try? LinearRegex(Self.fullMatchRegex(s)) }
            } else {
                targetModules = .names(try strings("target_modules") ?? [])
            }
        } else {
            targetModules = nil
        }
        self.targetRegex = targetRegex
        useRslora = try bool("use_rslora")
        useDora = try bool("use_dora")
        fanInFanOut = try bool("fan_in_fan_out")
        loraBias = try bool("lora_bias")
        bias = try string("bias") ?? "none"
        guard ["none", "all", "lora_only"].contains(bias) else {
            throw fail("bias", "bias is '\(bias)', not none, all or lora_only")
        }
        modulesToSave = try strings("modules_to_save") ?? []
        initLoraWeights = value("init_lora_weights")

        if let v = value("enable_lora") {
            guard let list = v.array, !list.isEmpty, list.allSatisfy({ $0.bool != nil }) else {
                throw fail("enable_lora", "enable_lora is \(JSONWriter.string(v)), not a list of booleans")
            }
            enableLora = list.compactMap(\.bool)
        } else {
            enableLora = nil
        }
        if let v = value("layers_to_transform") {
            if let i = v.int {
                layersToTransform = [i]
            } else if let list = v.array, list.allSatisfy({ $0.int != nil }) {
                layersToTransform = list.compactMap(\.int)
            } else {
                throw fail("layers_to_transform", "layers_to_transform is not an integer or a list of integers")
            }
        } else {
            layersToTransform = nil
        }

        func pattern<T>(_ key: String, _ convert: (JSONValue) -> T?,
                        _ valid: (T) -> Bool) throws -> [(String, T, LinearRegex)] {
            guard let v = value(key) else { return [] }
            guard let pairs = v.object else { throw fail(key, "\(key) is not an object") }
            return try pairs.map { name, raw in
                guard let x = convert(raw), valid(x) else {
                    throw fail(key, "\(key) value for '\(name)' is \(JSONWriter.string(raw))")
                }
                return (name, x, try compile(key, name, Self.patternRegex))
            }
        }
        let ranks = try pattern("rank_pattern", { $0.int }, { $0 > 0 })
        rankPattern = ranks.map { (pattern: $0.0, rank: $0.1) }
        rankRegexes = ranks.map(\.2)
        let alphas = try pattern("alpha_pattern", { $0.double }, { $0.isFinite && abs($0) <= Self.maxAlpha })
        alphaPattern = alphas.map { (pattern: $0.0, alpha: $0.1) }
        alphaRegexes = alphas.map(\.2)
    }

    /// PEFT's `get_pattern_key`: a pattern key K applies to a module whose full name matches `(.*\.)?(K)$` from the
    /// start (`re.match`).
    private static func patternRegex(_ key: String) -> String { "^(.*\\.)?(\(key))$" }

    /// PEFT's `check_target_module_exists` for a string `target_modules`: `re.fullmatch(target_modules, name)`.
    private static func fullMatchRegex(_ pattern: String) -> String { "^(?:\(pattern))$" }

    /// Whether PEFT wraps `module` given `target_modules` (and so whether the adapter can hold LoRA weights for it):
    /// a string other than "all-linear" must match the whole name; a list entry must equal the name or be a suffix
    /// after a dot. Without `target_modules`, with "all-linear", or with a pattern `LinearRegex` does not take,
    /// every module is a target.
    /// - Parameter module: the module's name relative to the wrapped model, e.g.
    ///   `transformer.h.0.self_attention.query_key_value`.
    public func targets(module: String) -> Bool {
        switch targetModules {
        case nil, .allLinear?: return true
        case .regex?: return targetRegex?.matches(in: module) ?? true
        case .names(let names)?: return names.contains { module == $0 || module.hasSuffix("." + $0) }
        }
    }

    /// The rank of a module: the first matching `rank_pattern` entry, else `r`.
    /// - Parameter module: the module's name relative to the wrapped model, e.g.
    ///   `transformer.h.0.self_attention.query_key_value`.
    public func rank(forModule module: String) -> Int {
        zip(rankRegexes, rankPattern).first { $0.0.matches(in: module) }?.1.rank ?? r
    }

    /// The alpha of a module: the first matching `alpha_pattern` entry, else `lora_alpha`.
    public func alpha(forModule module: String) -> Double {
        zip(alphaRegexes, alphaPattern).first { $0.0.matches(in: module) }?.1.alpha ?? loraAlpha
    }
}
