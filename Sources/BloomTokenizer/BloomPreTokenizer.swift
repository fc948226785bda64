/// BLOOM's pre-tokenizer: Hugging Face `Split` with the Oniguruma regex ` ?[^(\s|[.,!?…。，、।۔،])]+`,
/// behaviour `Isolated`, matched by hand.
///
/// The regex matches an optional single space and then a maximal run of characters outside the class;
/// `Isolated` keeps the matches and the gaps between them as separate pieces. In Oniguruma a `[...]` inside a
/// class is a nested class, so the class excludes `(`, `)`, `|`, `\s` and `. , ! ? … 。 ， 、 । ۔ ،`.
///
/// `\s`: Oniguruma on UTF-8 with the options tokenizers compiles with (onig `Regex::new`, Ruby syntax, no
/// ASCII-range option) is Unicode whitespace: U+0009–U+000D, U+0085 and the general categories Zs, Zl, Zp
/// (doc/RE §3) — U+0020, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. This is the
/// Unicode White_Space property; U+180E (Zs before Unicode 6.3) is not in it, nor are U+001C–U+001F or U+200B.
/// Checked against tokenizers 0.23.3 on every code point.
enum BloomPreTokenizer {
    /// The pattern as BLOOM's tokenizer.json spells it.
    static let pattern = " ?[^(\\s|[.,!?…。，、।۔،])]+"

    /// Whether `scalar` is Oniguruma's Unicode `\s` (= the Unicode White_Space property).
    @inline(__always)
    static func isWhitespace(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Whether `scalar` is in the regex's excluded class (it never belongs to a match's run).
    @inline(__always)
    static func isExcluded(_ scalar: UInt32) -> Bool {
        if scalar >= 0x80 {
            switch scalar {
            case 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true  // \s
            case 0x2026, 0x3002, 0xFF0C, 0x3001, 0x0964, 0x06D4, 0x060C: return true  // … 。 ， 、 । ۔ ،
            default: return false
            }
        }
        // \t \n \v \f \r, space, ! ( ) , . ? |
        let bit: UInt64 = 1
        if scalar < 64 {
            let low: UInt64 = bit << 0x09 | bit << 0x0A | bit << 0x0B | bit << 0x0C | bit << 0x0D | bit << 0x20
                | bit << 0x21 | bit << 0x28 | bit << 0x29 | bit << 0x2C | bit << 0x2E | bit << 0x3F
            return low & (bit << UInt64(scalar)) != 0
        }
        return scalar == 0x7C
    }

    /// Calls `body` with each piece of `text[range]`, in order: matches and the non-empty gaps between them.
    /// `text` must be valid UTF-8 (it comes from a Swift `String`).
    @inline(__always)
    static func forEachPiece(in text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        let end = range.upperBound
        var gapStart = range.lowerBound
        var i = range.lowerBound
        while i < end {
            var matchStart = i
            var (scalar, length) = decode(text, i)
            if scalar == 0x20 {
                // ` ?`: the space belongs to a match only if a run follows it; a space alone never starts one.
                let next = i + 1
                guard next < end else { break }
                (scalar, length) = decode(text, next)
                if isExcluded(scalar) { i = next; continue }
                matchStart = i
                i = next + length
            } else if isExcluded(scalar) {
                i += length
                continue
            } else {
                i += length
            }
            while i < end {
                let (s, n) = decode(text, i)
                if isExcluded(s) { break }
                i += n
            }
            if gapStart < matchStart { body(gapStart..<matchStart) }
            body(matchStart..<i)
            gapStart = i
        }
        if gapStart < end { body(gapStart..<end) }
    }

    /// The scalar starting at `i` and its length in bytes (valid UTF-8 assumed).
    @inline(__always)
    static func decode(_ text: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) {
        let b0 = UInt32(text[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(text[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(text[i + 1] & 0x3F) << 6 | UInt32(text[i + 2] & 0x3F), 3)
        }
        return ((b0 & 0x07) << 18 | UInt32(text[i + 1] & 0x3F) << 12 | UInt32(text[i + 2] & 0x3F) << 6
                | UInt32(text[i + 3] & 0x3F), 4)
    }
}
