import BloomArch
import BloomCore
import BloomGGUF
import BloomTokenizer

extension BloomTokenizer {
    /// The tokenizer a GGUF file carries (`tokenizer.ggml.tokens`, `.token_type`, `.merges`, special ids).
    /// - Throws: `.ggufMissingKey`/`.ggufWrongType` for absent or mistyped keys, the tokenizer's own errors.
    public static func load(gguf m: GGUFMetadata) throws -> BloomTokenizer {
        let tokens = try m.stringArray(BloomGGUFKeys.tokens)
        let types = try m.optional(BloomGGUFKeys.tokenType, GGUFMetadata.int32Array) ?? []
        let merges = try m.stringArray(BloomGGUFKeys.merges).map { line -> (String, String) in
            guard let space = line.firstIndex(of: " ") else {
                return (line, "")
            }
            return (String(line[..<space]), String(line[line.index(after: space)...]))
        }
        func id(_ key: String) throws -> TokenID? { try m.optional(key, GGUFMetadata.uint32).map { TokenID(truncatingIfNeeded: $0) } }
        let special = SpecialTokens(bos: try id(BloomGGUFKeys.bosTokenID), eos: try id(BloomGGUFKeys.eosTokenID),
                                    unknown: try id(BloomGGUFKeys.unknownTokenID), padding: try id(BloomGGUFKeys.paddingTokenID))
        return try BloomTokenizer(tokens: tokens, tokenTypes: types, merges: merges, specialTokens: special)
    }
}
