/// The one error type of bloomkit's libraries: a stable code (tests match it), a message people read
/// (lowercase, names the value and the limit), the file and the place in it, and the cause.
///
/// Each module declares its own codes as `extension BloomError.Code { static let … }`.
public struct BloomError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }
        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String
    /// The file (or folder) the error is about, when there is one.
    public var path: String?
    /// Where in it: a byte offset, a tensor name, a JSON key…
    public var location: String?
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, path: String? = nil, location: String? = nil,
                cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.location = location
        self.cause = cause
    }

    /// Same error, with the file filled in where it was missing (readers deep in a call chain rarely know it).
    public func at(path: String) -> BloomError {
        var copy = self
        if copy.path == nil { copy.path = path }
        return copy
    }

    /// One line: `FILE: LOCATION: message`. Control characters that came from a file (a tensor name with a newline,
    /// an ANSI escape in a key) are shown escaped, so the line stays one line and cannot drive the terminal.
    public var description: String {
        var parts: [String] = []
        if let path { parts.append(path) }
        if let location { parts.append(location) }
        parts.append(message)
        return BloomError.escapingControlCharacters(parts.joined(separator: ": "))
    }

    /// `text` with C0/C1 controls, DEL, line and paragraph separators and bidi overrides written as `\u{…}`.
    static func escapingControlCharacters(_ text: String) -> String {
        func unsafe(_ u: Unicode.Scalar) -> Bool {
            u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029
                || (0x202A...0x202E).contains(u.value) || (0x2066...0x2069).contains(u.value)
        }
        guard text.unicodeScalars.contains(where: unsafe) else { return text }
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            if unsafe(u) {
                out.append(contentsOf: "\\u{\(String(u.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    /// The line plus the cause chain, one cause per line (for `--verbose`).
    public var verboseDescription: String {
        var text = description + " [\(code)]"
        var next: (any Error)? = cause
        while let error = next {
            text += "\n  caused by: \(error)"
            next = (error as? BloomError)?.cause
        }
        return text
    }
}

extension BloomError.Code {
    public static let io: Self = "io"
    public static let truncated: Self = "truncated"
    public static let outOfBounds: Self = "out-of-bounds"
    public static let overflow: Self = "overflow"
    public static let invalidJSON: Self = "invalid-json"
    public static let limitExceeded: Self = "limit-exceeded"
    public static let invalidArgument: Self = "invalid-argument"
    public static let unsupported: Self = "unsupported"
    public static let interrupted: Self = "interrupted"
}

/// Checked arithmetic for sizes read from files: never traps, throws a `BloomError` naming what overflowed.
public enum Checked {
    public static func multiply(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        if o || a < 0 || b < 0 { throw BloomError(.overflow, "\(what()) overflows (\(a) × \(b))") }
        return r
    }

    public static func add(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        if o || a < 0 || b < 0 { throw BloomError(.overflow, "\(what()) overflows (\(a) + \(b))") }
        return r
    }

    public static func product(_ values: [Int], _ what: @autoclosure () -> String) throws -> Int {
        var r = 1
        for v in values { r = try multiply(r, v, what()) }
        return r
    }

    /// Converts an unsigned 64-bit value read from a file to Int, refusing values above Int.max.
    public static func int(_ v: UInt64, _ what: @autoclosure () -> String) throws -> Int {
        guard v <= UInt64(Int.max) else {
            throw BloomError(.overflow, "\(what()) is \(v), past the largest supported size")
        }
        return Int(v)
    }
}
