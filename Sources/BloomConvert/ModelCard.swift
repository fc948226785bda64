import BloomCore
import Foundation

/// The YAML header of a Hugging Face model card (README.md between a first line `---` and the next `---`), read as
/// gguf-py's `Metadata.load_model_card` reads it, for the subset model cards use: top-level `key: scalar`,
/// `key: [a, b]`, and `key:` followed by `- item` lines (scalars, or `- key: value` maps of scalars). Anything else
/// (nested maps, anchors, block scalars) leaves that key out; nothing in the card can make reading it fail or grow.
public enum ModelCard {
    /// The largest README.md read: cards are kilobytes; the header is bounded again below.
    public static let maxFileBytes = 4 << 20
    /// The most header lines and list items kept, so a hostile card costs a bounded amount of memory.
    public static let maxHeaderLines = 4096

    /// The header of `folder`/README.md as a JSON object (strings, lists of strings, lists of string maps); an empty
    /// object when there is no README.md or no header.
    /// - Throws: `BloomError` when README.md exists but cannot be read (too large, not UTF-8), with its path.
    public static func header(inFolder folder: String) throws -> JSONValue {
        let path = folder + "/README.md"
        guard FileManager.default.fileExists(atPath: path) else { return .object([]) }
        let file = try MappedFile(path: path, maxBytes: maxFileBytes, what: "model card")
        guard let text = withExtendedLifetime(file, { String(validating: file.bytes, as: UTF8.self) }) else {
            throw BloomError(.invalidArgument, "the model card is not valid UTF-8", path: path)
        }
        return parseHeader(text)
    }

    /// The header of a model card's text (see `ModelCard`).
    public static func parseHeader(_ text: String) -> JSONValue {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? line.dropLast() : line
        }
        guard lines.first == "---" else { return .object([]) }
        lines.removeFirst()
        if let end = lines.firstIndex(of: "---") { lines = Array(lines[..<end]) }
        lines = Array(lines.prefix(maxHeaderLines))

        var pairs: [(String, JSONValue)] = []
        var index = 0
        while index < lines.count {
            let line = String(lines[index]).replacingOccurrences(of: "\t", with: "  ")
            index += 1
            guard let first = line.first, first != " ", first != "#", first != "-",
                  let (key, rest) = splitKey(Substring(line)) else { continue }
            var value: JSONValue?
            if rest.isEmpty {
                var items: [JSONValue] = []
                var valid = true
                while index < lines.count {
                    let item = String(lines[index]).replacingOccurrences(of: "\t", with: "  ")
                    let trimmed = item.drop { $0 == " " }
                    if trimmed.isEmpty || trimmed.hasPrefix("#") { index += 1; continue }
                    guard item.first == " " || item.first == "-" else { break }
                    index += 1
                    if trimmed.hasPrefix("- ") || trimmed == "-" {
                        items.append(listItem(trimmed.dropFirst(1).drop { $0 == " " }))
                    } else if case .object(var map)? = items.last, let (k, v) = splitKey(trimmed),
                              let scalar = flowOrScalar(v), scalar.string != nil {
                        map.append((k, scalar))
                        items[items.count - 1] = .object(map)
                    } else {
                        valid = false
                    }
                }
                if valid && !items.isEmpty { value = .array(items) }
            } else {
                value = flowOrScalar(rest)
            }
            if let value, !pairs.contains(where: { $0.0 == key }) { pairs.append((key, value)) }
        }
        return .object(pairs)
    }

    /// `- text`: a `key: value` map of one entry (more entries follow on indented lines), or a scalar.
    static func listItem(_ text: Substring) -> JSONValue {
        if let (k, v) = splitKey(text), !v.isEmpty, let scalar = flowOrScalar(v), scalar.string != nil {
            return .object([(k, scalar)])
        }
        return scalar(text)
    }

    /// `key: rest` (rest may be empty), for a plain or quoted key.
    static func splitKey(_ line: Substring) -> (String, Substring)? {
        if let quote = line.first, quote == "\"" || quote == "'" {
            guard let close = line.dropFirst().firstIndex(of: quote) else { return nil }
            let after = line[line.index(after: close)...]
            guard after.hasPrefix(":") else { return nil }
            return (String(line[line.index(after: line.startIndex)..<close]), after.dropFirst().drop { $0 == " " })
        }
        let colon: Range<Substring.Index>
        if let r = line.range(of: ": ") {
            colon = r
        } else if line.hasSuffix(":") {
            colon = line.index(before: line.endIndex)..<line.endIndex
        } else {
            return nil
        }
        let key = line[..<colon.lowerBound]
        guard let first = key.first, first != "[", first != "{" else { return nil }
        return (String(key), line[colon.upperBound...].drop { $0 == " " })
    }

    /// `[a, b]` as a list of scalars, or one scalar.
    static func flowOrScalar(_ text: Substring) -> JSONValue? {
        let trimmed = stripComment(text)
        if trimmed.hasPrefix("[") {
            guard trimmed.hasSuffix("]") else { return nil }
            let inner = trimmed.dropFirst().dropLast()
            if inner.allSatisfy({ $0 == " " }) { return .array([]) }
            return .array(inner.split(separator: ",").prefix(maxHeaderLines).map { scalar($0.drop { $0 == " " }) })
        }
        if trimmed.hasPrefix("{") || trimmed.hasPrefix("|") || trimmed.hasPrefix(">") || trimmed.hasPrefix("&")
            || trimmed.hasPrefix("*") { return nil }
        return scalar(trimmed)
    }

    /// A plain or quoted scalar, as a string (YAML's `null` and `~` as null); comments after a plain scalar dropped.
    static func scalar(_ text: Substring) -> JSONValue {
        let trimmed = stripComment(text)
        if let quote = trimmed.first, quote == "\"" || quote == "'", trimmed.count >= 2, trimmed.last == quote {
            let inner = String(trimmed.dropFirst().dropLast())
            return .string(quote == "'" ? inner.replacingOccurrences(of: "''", with: "'") : unescape(inner))
        }
        if trimmed == "null" || trimmed == "~" || trimmed.isEmpty { return .null }
        return .string(String(trimmed))
    }

    /// A double-quoted scalar's common escapes.
    static func unescape(_ text: String) -> String {
        var out = ""
        var escaped = false
        for c in text {
            if escaped {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Text before ` #` (a YAML comment) unless the text is quoted, without surrounding spaces.
    static func stripComment(_ text: Substring) -> Substring {
        var t = text
        if let first = t.first, first != "\"", first != "'", let r = t.range(of: " #") { t = t[..<r.lowerBound] }
        while t.last == " " { t = t.dropLast() }
        while t.first == " " { t = t.dropFirst() }
        return t
    }
}
