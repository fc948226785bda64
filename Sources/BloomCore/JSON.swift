/// A JSON value with its object keys in file order. Numbers keep their literal text so 64-bit integers
/// (safetensors offsets) are exact.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y || Double(x) == Double(y)
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let pairs) = self { return pairs.first(where: { $0.0 == key })?.1 }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var object: [(String, JSONValue)]? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
    public var double: Double? { if case .number(let n) = self { return Double(n) }; return nil }
    /// The number as an exact integer (no fraction, no exponent, in range), else nil.
    public var int: Int? {
        guard case .number(let n) = self else { return nil }
        if let i = Int(n) { return i }
        if let d = Double(n), d == d.rounded(), abs(d) < 9.0e15 { return Int(d) }
        return nil
    }
    public var uint64: UInt64? { if case .number(let n) = self { return UInt64(n) }; return nil }
}

/// A strict JSON parser (RFC 8259) with bounds on nesting depth and size, for headers and configs from strangers.
/// Duplicate object keys are an error (safetensors forbids them; a later duplicate silently winning is a trap).
public struct JSONParser {
    /// Deep nesting is the classic way to blow a recursive parser's stack.
    public static let defaultMaxDepth = 128
    /// The parsed tree takes about 60–80 bytes per value (`[0,0,…]` or `[[1],[1],…]`: 10–35 times the text), so the
    /// value count, not the byte count, bounds its memory: 2^22 values, about 300 MB at most. BLOOM's tokenizer.json,
    /// the largest JSON bloomkit reads, holds about a million (250k vocabulary entries, 250k merges).
    public static let defaultMaxValues = 1 << 22

    public var maxDepth: Int
    public var maxValues: Int
    public var allowDuplicateKeys: Bool

    public init(maxDepth: Int = JSONParser.defaultMaxDepth, maxValues: Int = JSONParser.defaultMaxValues,
                allowDuplicateKeys: Bool = false) {
        self.maxDepth = maxDepth
        self.maxValues = maxValues
        self.allowDuplicateKeys = allowDuplicateKeys
    }

    public func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {
        var state = State(bytes: bytes, maxDepth: maxDepth, maxValues: maxValues,
                          allowDuplicateKeys: allowDuplicateKeys)
        state.skipWhitespace()
        let value = try state.parseValue(depth: 0)
        state.skipWhitespace()
        guard state.i == bytes.count else { throw state.error("unexpected data after the JSON value") }
        return value
    }

    public func parse(_ text: String) throws -> JSONValue {
        var copy = text
        return try copy.withUTF8 { try parse(UnsafeRawBufferPointer($0)) }
    }

    private struct State {
        let bytes: UnsafeRawBufferPointer
        let maxDepth: Int
        let maxValues: Int
        let allowDuplicateKeys: Bool
        var i = 0
        var values = 0

        func error(_ message: String) -> BloomError {
            BloomError(.invalidJSON, "invalid JSON: \(message)", location: "byte \(i)")
        }

        mutating func skipWhitespace() {
            while i < bytes.count {
                let c = bytes[i]
                if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
            }
        }

        mutating func expect(_ literal: StaticString) throws {
            let n = literal.utf8CodeUnitCount
            guard bytes.count - i >= n else { throw error("truncated literal") }
            for k in 0..<n where bytes[i + k] != literal.utf8Start[k] { throw error("invalid literal") }
            i += n
        }

        mutating func parseValue(depth: Int) throws -> JSONValue {
            guard depth <= maxDepth else { throw BloomError(.limitExceeded, "JSON nesting deeper than \(maxDepth) levels", location: "byte \(i)") }
            values += 1
            guard values <= maxValues else {
                throw BloomError(.limitExceeded, "JSON of more than \(maxValues) values", location: "byte \(i)")
            }
            guard i < bytes.count else { throw error("unexpected end of data") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var pairs: [(String, JSONValue)] = []
                // Keys compare by their bytes: String == treats canonically equivalent keys ("é", "e\u{301}") as equal.
                var seen = Set<[UInt8]>()
                skipWhitespace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                while true {
                    skipWhitespace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                    let key = try parseString()
                    if !allowDuplicateKeys {
                        guard seen.insert(Array(key.utf8)).inserted else {
                            throw BloomError(.invalidJSON, "duplicate key '\(key)'", location: "byte \(i)")
                        }
                    }
                    skipWhitespace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    i += 1
                    skipWhitespace()
                    pairs.append((key, try parseValue(depth: depth + 1)))
                    skipWhitespace()
                    guard i < bytes.count else { throw error("unterminated object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [JSONValue] = []
                skipWhitespace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    skipWhitespace()
                    items.append(try parseValue(depth: depth + 1))
                    skipWhitespace()
                    guard i < bytes.count else { throw error("unterminated array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try parseString())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            default:
                return .number(try parseNumber())
            }
        }

        mutating func parseNumber() throws -> String {
            let start = i
            func digit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, digit(bytes[i]) else { throw error("invalid number") }
            if bytes[i] == 0x30 { i += 1 } else { while i < bytes.count, digit(bytes[i]) { i += 1 } }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                guard i < bytes.count, digit(bytes[i]) else { throw error("invalid number fraction") }
                while i < bytes.count, digit(bytes[i]) { i += 1 }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard i < bytes.count, digit(bytes[i]) else { throw error("invalid number exponent") }
                while i < bytes.count, digit(bytes[i]) { i += 1 }
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        }

        mutating func hex4() throws -> UInt32 {
            guard bytes.count - i >= 4 else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        mutating func parseString() throws -> String {
            i += 1  // opening quote
            var out: [UInt8] = []
            var runStart = i
            while true {
                guard i < bytes.count else { throw error("unterminated string") }
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    out.append(contentsOf: bytes[runStart..<i])
                    i += 1
                    break
                }
                if c < 0x20 { throw error("control character in string") }
                if c == UInt8(ascii: "\\") {
                    out.append(contentsOf: bytes[runStart..<i])
                    i += 1
                    guard i < bytes.count else { throw error("unterminated escape") }
                    let e = bytes[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            // a high surrogate must be followed by \uDC00-\uDFFF
                            guard bytes.count - i >= 6, bytes[i] == 0x5C, bytes[i + 1] == UInt8(ascii: "u") else {
                                throw error("unpaired surrogate")
                            }
                            i += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw error("unpaired surrogate")
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw error("invalid code point") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default: throw error("invalid escape")
                    }
                    runStart = i
                    continue
                }
                i += 1
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
            return s
        }
    }
}

/// Writes JSON text: compact or indented, keys in the order given.
public enum JSONWriter {
    public static func string(_ value: JSONValue, pretty: Bool = false) -> String {
        var out = ""
        write(value, into: &out, pretty: pretty, indent: 0)
        return out
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    private static func write(_ v: JSONValue, into out: inout String, pretty: Bool, indent: Int) {
        let pad = pretty ? String(repeating: "  ", count: indent + 1) : ""
        let end = pretty ? String(repeating: "  ", count: indent) : ""
        let nl = pretty ? "\n" : ""
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): out += quote(s)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            // Arrays of scalars stay on one line: shapes and id lists read better that way.
            let scalars = items.allSatisfy { if case .array = $0 { return false }; if case .object = $0 { return false }; return true }
            if scalars || !pretty {
                out += "["
                for (k, item) in items.enumerated() {
                    if k > 0 { out += pretty ? ", " : "," }
                    write(item, into: &out, pretty: pretty, indent: indent + 1)
                }
                out += "]"
            } else {
                out += "[" + nl
                for (k, item) in items.enumerated() {
                    out += pad
                    write(item, into: &out, pretty: pretty, indent: indent + 1)
                    out += (k + 1 < items.count ? "," : "") + nl
                }
                out += end + "]"
            }
        case .object(let pairs):
            if pairs.isEmpty { out += "{}"; return }
            out += "{" + nl
            for (k, (key, value)) in pairs.enumerated() {
                out += pad + quote(key) + (pretty ? ": " : ":")
                write(value, into: &out, pretty: pretty, indent: indent + 1)
                out += (k + 1 < pairs.count ? "," : "") + nl
            }
            out += end + "}"
        }
    }
}

extension JSONValue {
    public static func int<T: BinaryInteger>(_ v: T) -> JSONValue { .number(String(v)) }
    public static func float(_ v: Double) -> JSONValue {
        v.isFinite ? .number(v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)) : .null
    }
}
