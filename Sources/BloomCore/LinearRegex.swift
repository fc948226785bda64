/// A regular expression matched in time linear in the text (a Thompson NFA run as a Pike VM, as RE2 and Go's regexp
/// do): no pattern can backtrack catastrophically, which a user's `--tensor-type` pattern in a backtracking engine
/// can (`(a|a?)+b`, `(.*)*x` run for minutes). Match cost: O(text length × program size).
///
/// The syntax is the common subset of POSIX ERE, std::regex and PCRE that names tensors need: literals, `.`,
/// `[...]`/`[^...]` with ranges, `\d \w \s \D \W \S` and escaped punctuation, `^` `$`, groups `(...)`/`(?:...)`,
/// `|`, `* + ?` (a lazy `?` after them is accepted: it changes no match's existence) and `{n}` `{n,}` `{n,m}`.
/// Backreferences, lookaround and other constructs are refused when the pattern is compiled.
public struct LinearRegex: Sendable {
    /// Largest program (instructions): bounds both compile memory and match time. `{n,m}` copies its operand.
    public static let maxProgram = 10_000
    /// Largest repeat count in `{n,m}`.
    public static let maxRepeat = 1000

    public let pattern: String
    private let program: [Instruction]

    /// - Throws: `.invalidArgument` naming the pattern, the offset and what is wrong or unsupported.
    public init(_ pattern: String) throws {
        self.pattern = pattern
        var parser = Parser(scalars: Array(pattern.unicodeScalars), pattern: pattern)
        let node = try parser.parseAlternation()
        guard parser.i == parser.scalars.count else { throw parser.fail("unbalanced ')'") }
        var program: [Instruction] = []
        try Self.emit(node, into: &program, pattern: pattern)
        program.append(.match)
        self.program = program
    }

    /// Whether the pattern matches anywhere in `text` (like `String.contains(Regex)`).
    public func matches(in text: String) -> Bool {
        let s = Array(text.unicodeScalars)
        var current: [Int] = [], next: [Int] = []
        var mark = [Int](repeating: -1, count: program.count)
        var stack: [Int] = []
        var generation = 0
        func add(_ pc0: Int, at pos: Int, to list: inout [Int]) {
            stack.append(pc0)
            while let pc = stack.popLast() {
                guard mark[pc] != generation else { continue }
                mark[pc] = generation
                switch program[pc] {
                case .jump(let t): stack.append(t)
                case .split(let a, let b): stack.append(b); stack.append(a)
                case .begin: if pos == 0 { stack.append(pc + 1) }
                case .end: if pos == s.count { stack.append(pc + 1) }
                case .consume, .match: list.append(pc)
                }
            }
        }
        for pos in 0...s.count {
            // The unanchored search starts a thread at every position.
            add(0, at: pos, to: &current)
            for pc in current { if case .match = program[pc] { return true } }
            guard pos < s.count else { break }
            generation += 1
            next.removeAll(keepingCapacity: true)
            for pc in current {
                if case .consume(let set) = program[pc], set.contains(s[pos]) { add(pc + 1, at: pos + 1, to: &next) }
            }
            swap(&current, &next)
        }
        return false
    }

    // MARK: program

    private enum Instruction: Sendable {
        case consume(ScalarSet), split(Int, Int), jump(Int), begin, end, match
    }

    private static func emit(_ node: Node, into p: inout [Instruction], pattern: String) throws {
        guard p.count < maxProgram else {
            throw BloomError(.invalidArgument, "pattern '\(pattern)' compiles past \(maxProgram) instructions")
        }
        switch node {
        case .empty: break
        case .set(let s): p.append(.consume(s))
        case .begin: p.append(.begin)
        case .end: p.append(.end)
        case .concat(let items): for n in items { try emit(n, into: &p, pattern: pattern) }
        case .alternation(let options):
            var jumps: [Int] = []
            for (k, option) in options.enumerated() {
                if k == options.count - 1 {
                    try emit(option, into: &p, pattern: pattern)
                } else {
                    let split = p.count
                    p.append(.split(split + 1, 0))
                    try emit(option, into: &p, pattern: pattern)
                    jumps.append(p.count)
                    p.append(.jump(0))
                    p[split] = .split(split + 1, p.count)
                }
            }
            for j in jumps { p[j] = .jump(p.count) }
        case .repeated(let body, let min, let max):
            for _ in 0..<min { try emit(body, into: &p, pattern: pattern) }
            if let max {
                var exits: [Int] = []
                for _ in min..<max {
                    exits.append(p.count)
                    p.append(.split(p.count + 1, 0))
                    try emit(body, into: &p, pattern: pattern)
                }
                for e in exits { p[e] = .split(e + 1, p.count) }
            } else {
                let loop = p.count
                p.append(.split(loop + 1, 0))
                try emit(body, into: &p, pattern: pattern)
                p.append(.jump(loop))
                p[loop] = .split(loop + 1, p.count)
            }
        }
    }

    // MARK: syntax

    private indirect enum Node {
        case empty, set(ScalarSet), begin, end
        case concat([Node]), alternation([Node])
        case repeated(Node, min: Int, max: Int?)
    }

    struct ScalarSet: Sendable {
        var ranges: [ClosedRange<UInt32>] = []
        var negated = false

        func contains(_ u: Unicode.Scalar) -> Bool {
            ranges.contains { $0.contains(u.value) } != negated
        }

        static let digit = ScalarSet(ranges: [48...57])
        static let word = ScalarSet(ranges: [48...57, 65...90, 95...95, 97...122])
        static let space = ScalarSet(ranges: [9...13, 32...32])
        static let anyButNewline = ScalarSet(ranges: [10...10], negated: true)
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        let pattern: String
        var i = 0
        var depth = 0

        func fail(_ why: String) -> BloomError {
            BloomError(.invalidArgument, "pattern '\(pattern)' at offset \(i): \(why)")
        }

        var peek: Unicode.Scalar? { i < scalars.count ? scalars[i] : nil }

        mutating func parseAlternation() throws -> Node {
            var options = [try parseConcat()]
            while peek == "|" {
                i += 1
                options.append(try parseConcat())
            }
            return options.count == 1 ? options[0] : .alternation(options)
        }

        mutating func parseConcat() throws -> Node {
            var items: [Node] = []
            while let c = peek, c != "|", c != ")" {
                var atom = try parseAtom()
                if let q = peek, Self.quantifiers.contains(q) {
                    if isAnchor(atom) { throw fail("nothing to repeat") }
                    atom = try quantify(atom)
                    if let q2 = peek, Self.quantifiers.contains(q2) { throw fail("a quantifier follows a quantifier") }
                }
                items.append(atom)
            }
            return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
        }

        static let quantifiers: Set<Unicode.Scalar> = ["*", "+", "?", "{"]

        func isAnchor(_ n: Node) -> Bool {
            if case .begin = n { return true }
            if case .end = n { return true }
            return false
        }

        mutating func quantify(_ atom: Node) throws -> Node {
            let q = scalars[i]
            i += 1
            let node: Node
            switch q {
            case "*": node = .repeated(atom, min: 0, max: nil)
            case "+": node = .repeated(atom, min: 1, max: nil)
            case "?": node = .repeated(atom, min: 0, max: 1)
            default:
                let lo = try number()
                var hi: Int? = lo
                if peek == "," {
                    i += 1
                    hi = peek == "}" ? nil : try number()
                }
                guard peek == "}" else { throw fail("expected '}'") }
                i += 1
                if let hi, hi < lo { throw fail("{\(lo),\(hi)}: the maximum is below the minimum") }
                node = .repeated(atom, min: lo, max: hi)
            }
            if peek == "?" { i += 1 }  // lazy: the same set of matches
            return node
        }

        mutating func number() throws -> Int {
            var value = 0, digits = 0
            while let c = peek, let d = Int(String(c)), c.isASCII {
                value = value * 10 + d
                digits += 1
                i += 1
                guard value <= LinearRegex.maxRepeat else { throw fail("repeat count past \(LinearRegex.maxRepeat)") }
            }
            guard digits > 0 else { throw fail("expected a number") }
            return value
        }

        mutating func parseAtom() throws -> Node {
            let c = scalars[i]
            i += 1
            switch c {
            case "(":
                if peek == "?" {
                    guard i + 1 < scalars.count, scalars[i + 1] == ":" else {
                        throw fail("only (?:...) groups are supported (no lookaround or flags)")
                    }
                    i += 2
                }
                depth += 1
                guard depth <= 64 else { throw fail("groups nested deeper than 64") }
                let inner = try parseAlternation()
                guard peek == ")" else { throw fail("expected ')'") }
                i += 1
                depth -= 1
                return inner
            case "[": return .set(try parseClass())
            case ".": return .set(.anyButNewline)
            case "^": return .begin
            case "$": return .end
            case "\\": return .set(try parseEscape(inClass: false))
            case "*", "+", "?", "{": throw fail("nothing to repeat")
            default: return .set(ScalarSet(ranges: [c.value...c.value]))
            }
        }

        mutating func parseEscape(inClass: Bool) throws -> ScalarSet {
            guard let e = peek else { throw fail("a pattern cannot end with '\\'") }
            i += 1
            switch e {
            case "d": return .digit
            case "w": return .word
            case "s": return .space
            case "D": return ScalarSet(ranges: ScalarSet.digit.ranges, negated: true)
            case "W": return ScalarSet(ranges: ScalarSet.word.ranges, negated: true)
            case "S": return ScalarSet(ranges: ScalarSet.space.ranges, negated: true)
            case "n": return ScalarSet(ranges: [10...10])
            case "t": return ScalarSet(ranges: [9...9])
            default:
                guard e.isASCII, !(e.properties.isAlphabetic || ("0"..."9").contains(e)) else {
                    throw fail("'\\\(e)' is not supported (no backreferences or other escapes)")
                }
                return ScalarSet(ranges: [e.value...e.value])
            }
        }

        mutating func parseClass() throws -> ScalarSet {
            var set = ScalarSet()
            if peek == "^" { set.negated = true; i += 1 }
            var first = true
            while let c = peek, c != "]" || first {
                first = false
                i += 1
                var lo: UInt32
                if c == "\\" {
                    let escaped = try parseEscape(inClass: true)
                    guard !escaped.negated, escaped.ranges.count == 1, escaped.ranges[0].count == 1 else {
                        guard !escaped.negated else { throw fail("negated classes inside [...] are not supported") }
                        set.ranges += escaped.ranges
                        continue
                    }
                    lo = escaped.ranges[0].lowerBound
                } else {
                    lo = c.value
                }
                if peek == "-", i + 1 < scalars.count, scalars[i + 1] != "]" {
                    i += 1
                    var hi = scalars[i].value
                    i += 1
                    if scalars[i - 1] == "\\" {
                        let escaped = try parseEscape(inClass: true)
                        guard escaped.ranges.count == 1, escaped.ranges[0].count == 1, !escaped.negated else {
                            throw fail("a class cannot end a range")
                        }
                        hi = escaped.ranges[0].lowerBound
                    }
                    guard lo <= hi else { throw fail("range out of order") }
                    set.ranges.append(lo...hi)
                } else {
                    set.ranges.append(lo...lo)
                }
            }
            guard peek == "]" else { throw fail("expected ']'") }
            i += 1
            return set
        }
    }
}
