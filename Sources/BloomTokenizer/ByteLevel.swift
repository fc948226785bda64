/// GPT-2's byte-to-unicode map, as Hugging Face tokenizers' `ByteLevel` pre-tokenizer and decoder use it
/// (pre_tokenizers/byte_level.rs `bytes_char`).
///
/// Bytes 0x21–0x7E, 0xA1–0xAC and 0xAE–0xFF map to the same code point; the other 68 bytes map, in increasing
/// byte order, to U+0100 + n. So a space is 'Ġ' (U+0120) and a newline 'Ċ' (U+010A). Vocabulary strings are
/// written in these characters; one character stands for exactly one byte.
enum ByteLevel {
    /// `scalarOfByte[b]`: the code point byte `b` is written as.
    static let scalarOfByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 0x100
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// The inverse map over U+0000..U+0143 (-1 where a code point stands for no byte).
    private static let byteOfScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, s) in scalarOfByte.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// The byte a vocabulary character stands for, or nil if it is not one of the 256.
    static func byte(of scalar: Unicode.Scalar) -> UInt8? {
        let v = Int(scalar.value)
        guard v < byteOfScalar.count, byteOfScalar[v] >= 0 else { return nil }
        return UInt8(byteOfScalar[v])
    }

    /// The vocabulary spelling of raw bytes ("\u{20}hi" -> "Ġhi").
    static func spelling(of bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes {
            if let scalar = Unicode.Scalar(scalarOfByte[Int(b)]) { s.append(scalar) }  // always: U+0021...U+0143
        }
        return String(s)
    }

    /// The bytes a vocabulary string decodes to, as tokenizers' ByteLevel decoder does it: each character
    /// maps back to its byte; if any character is not one of the 256, the whole token is taken as its own UTF-8.
    static func decode(_ token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard let b = byte(of: scalar) else { return Array(token.utf8) }
            out.append(b)
        }
        return out
    }
}
