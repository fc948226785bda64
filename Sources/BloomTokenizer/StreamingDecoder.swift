/// Turns token ids into text one at a time without ever splitting a UTF-8 character: bytes that begin a character
/// the next tokens may complete are held back. The concatenation of everything `append` and `finish` return equals
/// `BloomTokenizer.decode` of all the ids; U+FFFD appears only where that full decode has it.
public struct StreamingDecoder: Sendable {
    public let tokenizer: BloomTokenizer
    public let skipSpecialTokens: Bool
    /// Bytes not yet returned: at most 3, a valid but incomplete start of a character.
    private var pending: [UInt8] = []

    public init(tokenizer: BloomTokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one token and returns the text it completes (possibly empty).
    public mutating func append(_ id: TokenID) -> String {
        tokenizer.appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &pending)
        let ready = Self.completePrefixLength(pending)
        let text = String(decoding: pending[..<ready], as: UTF8.self)
        pending.removeFirst(ready)
        return text
    }

    /// Returns what is still held back (an unfinished character becomes U+FFFD, as in the full decode) and resets.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// How many leading bytes of `bytes` decode the same whatever follows: all of them, unless they end with a
    /// valid but unfinished UTF-8 sequence, which is then left out. Splitting before a lead byte is safe: no earlier
    /// sequence can extend over it.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var lead = n - 1
        while lead >= 0 && n - lead <= 4 && bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= 0, n - lead <= 3 else { return n }
        let first = bytes[lead]
        let needed: Int
        switch first {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: return n  // ASCII, or a byte no character starts with
        }
        let have = n - lead
        guard have < needed else { return n }
        if have >= 2 {
            let second = bytes[lead + 1]
            let allowed: ClosedRange<UInt8>
            switch first {
            case 0xE0: allowed = 0xA0...0xBF
            case 0xED: allowed = 0x80...0x9F
            case 0xF0: allowed = 0x90...0xBF
            case 0xF4: allowed = 0x80...0x8F
            default: allowed = 0x80...0xBF
            }
            guard allowed.contains(second) else { return n }
        }
        return lead
    }
}
