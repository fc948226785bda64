import BloomCore
import BloomGGUF

/// The GGUF keys of a tokenizer (llama.cpp `LLM_KV_TOKENIZER_*`), held once here for the converter and the runtime.
public enum TokenizerGGUFKey {
    /// "gpt2" for byte-level BPE.
    public static let model = "tokenizer.ggml.model"
    /// Pre-tokenizer name; "bloom" for BLOOM's Split regex.
    public static let pre = "tokenizer.ggml.pre"
    /// ARRAY[STRING], index = id, byte-level spellings.
    public static let tokens = "tokenizer.ggml.tokens"
    /// ARRAY[INT32], one `BloomTokenizer.TokenType` per token.
    public static let tokenType = "tokenizer.ggml.token_type"
    /// ARRAY[STRING] of "left right", lowest rank first.
    public static let merges = "tokenizer.ggml.merges"
    public static let bosID = "tokenizer.ggml.bos_token_id"
    public static let eosID = "tokenizer.ggml.eos_token_id"
    public static let unknownID = "tokenizer.ggml.unknown_token_id"
    public static let paddingID = "tokenizer.ggml.padding_token_id"
    public static let addBOS = "tokenizer.ggml.add_bos_token"
    public static let addEOS = "tokenizer.ggml.add_eos_token"
}

extension BloomTokenizer {
    /// The tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata.
    ///
    /// Requires model "gpt2" and pre-tokenizer "bloom" (a missing `pre`, as in files from before llama.cpp wrote it,
    /// is taken as BLOOM's); token types are optional (all NORMAL). Merges are "left right", split at the first
    /// space after the first character, as llama.cpp splits them.
    ///
    /// - Throws: `BloomError`: `gguf-missing-key`/`gguf-wrong-type` from the metadata, `.unsupported` for another
    ///   tokenizer, `.invalidTokenizer` for inconsistent arrays; with the file's path.
    public convenience init(gguf: GGUFFile) throws {
        do {
            let meta = gguf.metadata
            let model = try meta.string(TokenizerGGUFKey.model)
            guard model == "gpt2" else {
                throw BloomError(.unsupported, "tokenizer model '\(model)' is not supported (BLOOM's is 'gpt2', byte-level BPE)",
                                 location: TokenizerGGUFKey.model)
            }
            if let pre = try meta.optional(TokenizerGGUFKey.pre, GGUFMetadata.string), pre != "bloom" {
                throw BloomError(.unsupported, "pre-tokenizer '\(pre)' is not supported (BLOOM's is 'bloom')", location: TokenizerGGUFKey.pre)
            }
            let tokens = try meta.stringArray(TokenizerGGUFKey.tokens)
            let types = try meta.optional(TokenizerGGUFKey.tokenType, GGUFMetadata.int32Array) ?? []
            let lines = try meta.optional(TokenizerGGUFKey.merges, GGUFMetadata.stringArray) ?? []
            var merges: [(String, String)] = []
            merges.reserveCapacity(lines.count)
            for (rank, line) in lines.enumerated() {
                let scalars = line.unicodeScalars
                guard !scalars.isEmpty, let space = scalars[scalars.index(after: scalars.startIndex)...].firstIndex(of: " ") else {
                    throw BloomError(.invalidTokenizer, "merge \(rank) '\(line)' has no space separating two tokens", location: TokenizerGGUFKey.merges)
                }
                merges.append((String(scalars[..<space]), String(scalars[scalars.index(after: space)...])))
            }
            func id(_ key: String) throws -> TokenID? {
                guard let value = try meta.optional(key, GGUFMetadata.uint32) else { return nil }
                guard Int(value) < tokens.count else {
                    throw BloomError(.invalidTokenizer, "\(key) is \(value), past the \(tokens.count) tokens", location: key)
                }
                return TokenID(value)
            }
            let special = SpecialTokens(bos: try id(TokenizerGGUFKey.bosID), eos: try id(TokenizerGGUFKey.eosID),
                                        unknown: try id(TokenizerGGUFKey.unknownID), padding: try id(TokenizerGGUFKey.paddingID))
            try self.init(tokens: tokens, tokenTypes: types, merges: merges, specialTokens: special)
        } catch let error as BloomError {
            throw error.at(path: gguf.path)
        }
    }
}
