import BloomCore

/// PEFT's per-module overrides (`rank_pattern`, `alpha_pattern`), matched as PEFT matches them.
///
/// `peft.utils.other.get_pattern_key(pattern_keys, key_to_match)` returns the first key K, in the config's order,
/// for which `re.match(rf"(.*\.)?({K})$", key_to_match)` succeeds — K is a regular expression that must match a
/// dot-separated suffix of the module name (or all of it) — and otherwise `key_to_match` itself; the caller then does
/// `pattern.get(that_key, default)`. The module name is relative to the wrapped model
/// (`transformer.h.0.self_attention.query_key_value`).
public enum PEFTPattern {
    /// The first key of `keys` whose pattern matches `moduleName`, or nil when none does.
    /// - Throws: `loraInvalidAdapter` when a key is not a valid regular expression (PEFT's `re` raises there too).
    public static func matchingKey(_ keys: [String], for moduleName: String) throws -> String? {
        for key in keys {
            let regex: Regex<AnyRegexOutput>
            do {
                regex = try Regex("(.*\\.)?(" + key + ")")
            } catch {
                throw BloomError(.loraInvalidAdapter, "pattern key '\(key)' is not a valid regular expression")
            }
            if moduleName.wholeMatch(of: regex) != nil { return key }
        }
        return nil
    }

    /// The override for `moduleName` in an ordered pattern map, as PEFT looks it up: the value of the first matching key,
    /// else the value stored under the module's full name (if any), else nil (use the config-wide default).
    public static func value<T>(in pattern: [(key: String, value: T)], for moduleName: String) throws -> T? {
        let key = try matchingKey(pattern.map(\.key), for: moduleName) ?? moduleName
        return pattern.first(where: { $0.key == key })?.value
    }
}
