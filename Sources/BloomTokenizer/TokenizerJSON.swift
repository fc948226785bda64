import BloomCore

/// A Hugging Face tokenizer.json as the one reader (`BloomTokenizer+JSON.swift`) takes it apart: BLOOM's pipeline
/// checked, the BPE model's parts, and the added tokens with the ids tokenizers gives them. `BloomTokenizer` is
/// built from it; the converter writes the GGUF vocabulary from it.
public struct TokenizerJSON: Sendable {
    /// The BPE model's tokens (byte-level spellings) and ids, in the file's order.
    public let vocabulary: [(String, TokenID)]
    /// `added_tokens` with the ids tokenizers' `AddedVocabulary` gives them (a content listed twice keeps its last
    /// entry; empty contents are left out).
    public let addedTokens: [AddedToken]
    /// BPE merges, lowest rank first, as the file lists them ("#version" lines left out).
    public let merges: [(String, String)]
    /// The BPE model's unknown token, if it has one.
    public let unknownToken: String?
    /// Whether a run of unknown bytes gives one unknown token.
    public let fuseUnknown: Bool

    /// Reads and checks `tokenizer.json` at `path` (at most `JSONFile.maxBytes`).
    /// - Throws: `BloomError` (`.io`, `.invalidJSON`, `.invalidTokenizer`, `.unsupported`, `.limitExceeded`),
    ///   with `path`.
    public init(path: String) throws {
        let root = try JSONFile.read(path)
        do {
            self = try BloomTokenizer.read(tokenizerJSON: root)
        } catch let error as BloomError {
            throw error.at(path: path)
        }
    }

    /// Checks a parsed tokenizer.json.
    /// - Throws: `BloomError` (`.invalidTokenizer`, `.unsupported`, `.limitExceeded`) with the JSON key at fault.
    public init(_ root: JSONValue) throws {
        self = try BloomTokenizer.read(tokenizerJSON: root)
    }

    init(vocabulary: [(String, TokenID)], addedTokens: [AddedToken], merges: [(String, String)], unknownToken: String?,
         fuseUnknown: Bool) {
        self.vocabulary = vocabulary
        self.addedTokens = addedTokens
        self.merges = merges
        self.unknownToken = unknownToken
        self.fuseUnknown = fuseUnknown
    }
}
