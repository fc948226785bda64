/// A token matched in the raw text before pre-tokenization: tokenizer.json `added_tokens`, or a GGUF token of type
/// CONTROL (special) or USER_DEFINED.
public struct AddedToken: Sendable, Equatable {
    public var id: Int32
    public var content: String
    /// Special tokens (`<s>`, `</s>`…) are dropped by `decode(_:skipSpecialTokens: true)`.
    public var special: Bool
    /// Matches only where no word character touches it on either side.
    public var singleWord: Bool
    /// Takes the whitespace before it into the match.
    public var leftStrip: Bool
    /// Takes the whitespace after it into the match.
    public var rightStrip: Bool
    /// Matched after the normalizer, in a second pass over what the non-normalized tokens left.
    public var normalized: Bool

    public init(id: Int32, content: String, special: Bool, singleWord: Bool = false, leftStrip: Bool = false,
                rightStrip: Bool = false, normalized: Bool? = nil) {
        self.id = id
        self.content = content
        self.special = special
        self.singleWord = singleWord
        self.leftStrip = leftStrip
        self.rightStrip = rightStrip
        self.normalized = normalized ?? !special
    }
}

/// Finds added tokens in text as tokenizers' `AddedVocabulary::find_matches` does: non-overlapping leftmost-longest
/// matches (a byte trie walked from each position), then per token the single-word check and the lstrip/rstrip
/// widening, with `\s` and `\w` as the Rust regex crate defines them (Unicode White_Space; Alphabetic, marks,
/// decimal numbers, connector punctuation, Join_Control).
struct AddedTokenMatcher: Sendable {
    enum Segment {
        case token(Int32)
        case text(Range<Int>)
    }

    private let tokens: [AddedToken]
    /// Trie edges keyed by `node << 8 | byte`.
    private let edges: [UInt32: Int32]
    /// `terminal[node]`: index into `tokens` of the token ending at `node`, or -1.
    private let terminal: [Int32]
    /// Bytes some token starts with: most text positions are rejected by this alone.
    private let firstBytes: [Bool]

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens
        var edges: [UInt32: Int32] = [:]
        var terminal: [Int32] = [-1]
        var firstBytes = [Bool](repeating: false, count: 256)
        for (index, token) in tokens.enumerated() where !token.content.isEmpty {
            var node: Int32 = 0
            for byte in token.content.utf8 {
                let key = UInt32(node) << 8 | UInt32(byte)
                if let child = edges[key] {
                    node = child
                } else {
                    let child = Int32(terminal.count)
                    terminal.append(-1)
                    edges[key] = child
                    node = child
                }
            }
            terminal[Int(node)] = Int32(index)
            firstBytes[Int(token.content.utf8.first ?? 0)] = true
        }
        self.edges = edges
        self.terminal = terminal
        self.firstBytes = firstBytes
    }

    /// Calls `body` with the added tokens and the text between them, in order; empty text is skipped.
    func forEachSegment(in text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ body: (Segment) -> Void) {
        let lo = range.lowerBound, hi = range.upperBound
        if tokens.isEmpty {
            if lo < hi { body(.text(range)) }
            return
        }
        var startOffset = lo
        var pos = lo
        while pos < hi {
            guard firstBytes[Int(text[pos])] else { pos += 1; continue }
            var node: Int32 = 0
            var j = pos
            var best: Int32 = -1
            var bestEnd = pos
            while j < hi, let child = edges[UInt32(node) << 8 | UInt32(text[j])] {
                node = child
                j += 1
                if terminal[Int(node)] >= 0 {
                    best = terminal[Int(node)]
                    bestEnd = j
                }
            }
            guard best >= 0 else { pos += 1; continue }
            var start = pos
            var stop = bestEnd
            pos = bestEnd  // matches never overlap, whatever happens to this one below
            let token = tokens[Int(best)]
            if token.singleWord {
                let wordBefore = start > lo
                    && Self.isWordCharacter(Self.scalarAndLength(endingAt: start, in: text, from: lo).0)
                let wordAfter = stop < hi && Self.isWordCharacter(BloomPreTokenizer.decode(text, stop).0)
                if wordBefore || wordAfter { continue }
            }
            if token.leftStrip {
                var s = start
                while s > lo {
                    let (scalar, length) = Self.scalarAndLength(endingAt: s, in: text, from: lo)
                    guard BloomPreTokenizer.isWhitespace(scalar) else { break }
                    s -= length
                }
                start = max(s, startOffset)  // spaces a previous match took stay with it
            }
            if token.rightStrip {
                while stop < hi {
                    let (scalar, length) = BloomPreTokenizer.decode(text, stop)
                    guard BloomPreTokenizer.isWhitespace(scalar) else { break }
                    stop += length
                }
            }
            if startOffset < start { body(.text(startOffset..<start)) }
            body(.token(token.id))
            startOffset = stop
        }
        if startOffset < hi { body(.text(startOffset..<hi)) }
    }

    /// The scalar that ends at `end` and its length in bytes.
    private static func scalarAndLength(endingAt end: Int, in text: UnsafeBufferPointer<UInt8>,
                                        from lo: Int) -> (UInt32, Int) {
        var start = end - 1
        while start > lo, text[start] & 0xC0 == 0x80 { start -= 1 }
        return (BloomPreTokenizer.decode(text, start).0, end - start)
    }

    /// Rust regex `\w` (Unicode): Alphabetic, Mark, Decimal_Number, Connector_Punctuation, Join_Control.
    static func isWordCharacter(_ value: UInt32) -> Bool {
        guard let scalar = Unicode.Scalar(value) else { return false }
        let p = scalar.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
