import BloomArch
import BloomCore
import BloomGGUF

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
            try self.init(ggufMetadata: gguf.metadata)
        } catch let error as BloomError {
            throw error.at(path: gguf.path)
        }
    }

    /// The tokenizer in GGUF metadata (see `init(gguf:)`); errors carry the key at fault but no path.
    public convenience init(ggufMetadata meta: GGUFMetadata) throws {
        let model = try meta.string(BloomGGUFKeys.tokenizerModel)
        guard model == BloomGGUFKeys.gpt2 else {
            throw BloomError(.unsupported,
                             "tokenizer model '\(model)' is not supported (BLOOM's is 'gpt2', byte-level BPE)",
                             location: BloomGGUFKeys.tokenizerModel)
        }
        if let pre = try meta.optional(BloomGGUFKeys.tokenizerPre, GGUFMetadata.string), pre != BloomGGUFKeys.bloomPre {
            throw BloomError(.unsupported, "pre-tokenizer '\(pre)' is not supported (BLOOM's is 'bloom')",
                             location: BloomGGUFKeys.tokenizerPre)
        }
        let tokens = try meta.stringArray(BloomGGUFKeys.tokens)
        let types = try meta.optional(BloomGGUFKeys.tokenType, GGUFMetadata.int32Array) ?? []
        let lines = try meta.optional(BloomGGUFKeys.merges, GGUFMetadata.stringArray) ?? []
        var merges: [(String, String)] = []
        merges.reserveCapacity(lines.count)
        for (rank, line) in lines.enumerated() {
            let scalars = line.unicodeScalars
            guard !scalars.isEmpty,
                  let space = scalars[scalars.index(after: scalars.startIndex)...].firstIndex(of: " ") else {
                throw BloomError(.invalidTokenizer, "merge \(rank) '\(line)' has no space separating two tokens",
                                 location: BloomGGUFKeys.merges)
            }
            merges.append((String(scalars[..<space]), String(scalars[scalars.index(after: space)...])))
        }
        func id(_ key: String) throws -> TokenID? {
            guard let value = try meta.optional(key, GGUFMetadata.uint32) else { return nil }
            guard Int(value) < tokens.count else {
                throw BloomError(.invalidTokenizer, "\(key) is \(value), past the \(tokens.count) tokens",
                                 location: key)
            }
            return TokenID(value)
        }
        let special = SpecialTokens(bos: try id(BloomGGUFKeys.bosTokenID), eos: try id(BloomGGUFKeys.eosTokenID),
                                    unknown: try id(BloomGGUFKeys.unknownTokenID),
                                    padding: try id(BloomGGUFKeys.paddingTokenID))
        try self.init(tokens: tokens, tokenTypes: types, merges: merges, specialTokens: special)
    }
}
