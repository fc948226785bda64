/// A model id's parts as gguf-py's `Metadata.get_model_id_components` reads them: `ORG/NAME`, NAME split at "-" and
/// each part annotated as version, quantization type, size label or fine-tune; the leading plain words are the
/// basename (e.g. "bigscience/bloom-7b1" → organization "bigscience", basename "bloom", size label "7.1B").
struct ModelIDComponents: Equatable {
    var fullName: String?
    var organization: String?
    var basename: String?
    var finetune: String?
    var version: String?
    var sizeLabel: String?

    /// - Parameter totalParameters: the model's parameter count (0: unknown); a size part far from it is taken as
    ///   a context length and becomes part of the fine-tune name.
    init(_ id: String?, totalParameters: Int) {
        guard let id else { return }
        guard !id.contains(" ") else {
            fullName = id
            return
        }
        var org: String?
        let full: String
        if let slash = id.firstIndex(of: "/") {
            org = String(id[..<slash])
            full = String(id[id.index(after: slash)...])
        } else {
            full = id
        }
        if org?.first == "." { org = nil }
        fullName = full
        organization = org

        var parts = full.split(separator: "-").map(String.init)
        var types = [Set<String>](repeating: [], count: parts.count)
        for i in parts.indices {
            let part = parts[i]
            if Self.isVersion(part) {
                types[i].insert("version")
            } else if Self.isQuantType(part) {
                types[i].insert("type")
                parts[i] = part.uppercased()
            } else if i > 0, Self.isSize(part) {
                var p = Array(part.replacingOccurrences(of: "_", with: "."))
                if let last = p.last, last.isDecimalDigit, p.count >= 2 {
                    // bloom-7b1 → 7.1b
                    p = Array(p[..<(p.count - 2)]) + [".", last, p[p.count - 2]]
                }
                if p.count > 1, p[p.count - 2].isDecimalDigit, let last = p.last, "kmbt".contains(last) {
                    p[p.count - 1] = Character(last.uppercased())
                }
                if totalParameters != 0, let label = Self.labelParameters(p) {
                    let total = Double(totalParameters)
                    if (totalParameters < 0 && label < Double(abs(totalParameters) / 8))
                        || (totalParameters > 0 && abs(label - total) > Double(7 * totalParameters / 8)) {
                        types[i].insert("finetune")
                        p[p.count - 1] = Character(p[p.count - 1].lowercased())
                    }
                }
                if types[i].isEmpty { types[i].insert("size_label") }
                parts[i] = String(p)
            } else if i > 0, ["chat", "instruct", "vision", "lora"].contains(part.lowercased()) {
                types[i].insert(totalParameters < 0 && part.lowercased() == "lora" ? "type" : "finetune")
            }
        }
        // Word sizes (small, xl, …) are dropped when a numeric size is there.
        if zip(parts, types).contains(where: { $1.contains("size_label") && $0.contains(where: \.isDecimalDigit) }) {
            for i in parts.indices where types[i].contains("size_label") && parts[i].allSatisfy(\.isLetter) {
                types[i].remove("size_label")
            }
        }
        var atStart = true
        for i in parts.indices {
            if atStart && ((types[i].isEmpty && parts[i].first?.isLetter == true) || types[i].contains("version")) {
                types[i].insert("basename")
            } else {
                atStart = false
                if types[i].isEmpty { types[i].insert("finetune") }
            }
        }
        for i in parts.indices.reversed() {
            guard types[i].contains("basename"), types[i].count > 1 else { break }
            types[i].remove("basename")
        }
        func joined(_ type: String, excluding: String? = nil, unique: Bool = false) -> String? {
            var picked: [String] = []
            for (part, t) in zip(parts, types) where t.contains(type) && !(excluding.map(t.contains) ?? false) {
                if !unique || !picked.contains(part) { picked.append(part) }
            }
            return picked.isEmpty ? nil : picked.joined(separator: "-")
        }
        sizeLabel = joined("size_label", unique: true)
        finetune = joined("finetune")
        version = joined("version", excluding: "basename")
        basename = sizeLabel == nil && finetune == nil && version == nil ? nil : joined("basename")
    }

    /// The number a size label stands for (`7.1B` → 7.1e9), or nil when its number does not parse.
    static func labelParameters(_ p: [Character]) -> Double? {
        guard let last = p.last, let value = Double(String(p.dropLast())) else { return nil }
        let scale = Array(" KMBT").firstIndex(of: last) ?? -1  // Python's str.find: -1 when absent
        return value * pow1000(scale)
    }

    static func pow1000(_ n: Int) -> Double {
        n >= 0 ? (0..<n).reduce(1.0) { r, _ in r * 1000 } : 1.0 / 1000
    }

    /// `(v|iter)?\d+([.]\d+)*`, case-insensitive.
    static func isVersion(_ s: String) -> Bool {
        var rest = Substring(s)
        for prefix in ["v", "iter"] where rest.lowercased().hasPrefix(prefix) {
            rest = rest.dropFirst(prefix.count)
            break
        }
        let groups = rest.split(separator: ".", omittingEmptySubsequences: false)
        return !rest.isEmpty && groups.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isDecimalDigit) }
    }

    /// `i?q\d(_\w)*|b?fp?(16|32)`, case-insensitive.
    static func isQuantType(_ s: String) -> Bool {
        var rest = Substring(s.lowercased())
        if rest.hasPrefix("iq") || rest.hasPrefix("q") {
            rest = rest.dropFirst(rest.hasPrefix("iq") ? 2 : 1)
            guard let d = rest.first, d.isDecimalDigit else { return false }
            rest = rest.dropFirst()
            while !rest.isEmpty {
                guard rest.first == "_", rest.count >= 2, rest.dropFirst().first.map(isWordCharacter) == true else {
                    return false
                }
                rest = rest.dropFirst(2)
            }
            return true
        }
        if rest.hasPrefix("b") { rest = rest.dropFirst() }
        guard rest.hasPrefix("f") else { return false }
        rest = rest.dropFirst()
        if rest.hasPrefix("p") { rest = rest.dropFirst() }
        return rest == "16" || rest == "32"
    }

    /// `(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)`, case-insensitive.
    static func isSize(_ s: String) -> Bool {
        let lower = s.lowercased()
        if ["small", "mini", "medium", "large", "xl", "xxl"].contains(lower) { return true }
        let c = Array(lower)
        // Every split of the optional prefix "a" or digits+"x", then digits, optional [._]digits, [kmbt],
        // optional digit.
        var starts = [0]
        if c.first == "a" { starts.append(1) }
        var i = 0
        while i < c.count, c[i].isDecimalDigit { i += 1 }
        if i > 0, i < c.count, c[i] == "x" { starts.append(i + 1) }
        return starts.contains { start in matchesSizeBody(c[start...]) }
    }

    /// `\d+([._]\d+)?[kmbt]\d?` on lowercased characters.
    static func matchesSizeBody(_ c: ArraySlice<Character>) -> Bool {
        var i = c.startIndex
        let digitsStart = i
        while i < c.endIndex, c[i].isDecimalDigit { i += 1 }
        guard i > digitsStart else { return false }
        if i < c.endIndex, c[i] == "." || c[i] == "_" {
            var j = i + 1
            while j < c.endIndex, c[j].isDecimalDigit { j += 1 }
            if j > i + 1 { i = j }
        }
        guard i < c.endIndex, "kmbt".contains(c[i]) else { return false }
        i += 1
        if i < c.endIndex, c[i].isDecimalDigit { i += 1 }
        return i == c.endIndex
    }

    static func isWordCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }
}

extension Character {
    /// A decimal digit (Python's str.isdecimal for one character).
    var isDecimalDigit: Bool {
        unicodeScalars.count == 1 && unicodeScalars.first?.properties.numericType == .decimal
    }
}

extension ModelIDComponents {
    /// gguf-py id_to_title's exception: a version (`v1`, `v1.2`) or a word starting with a digit keeps its case.
    static func isVersionOrNumber(_ word: Substring) -> Bool {
        if word.first?.isDecimalDigit == true { return true }
        guard word.first == "v" else { return false }
        let groups = word.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
        return !word.dropFirst().isEmpty && groups.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isDecimalDigit) }
    }
}
