import BloomCore

extension BloomError.Code {
    /// A tokenizer file (tokenizer.json or GGUF tokenizer.ggml.*) that is malformed or inconsistent:
    /// a merge naming a token the vocabulary lacks, a duplicate id, token types that do not match the tokens.
    public static let invalidTokenizer: Self = "invalid-tokenizer"
}

/// Bounds on what a tokenizer file may ask for, so a hostile file cannot make us allocate without limit.
enum TokenizerLimits {
    /// Largest token id + 1. BLOOM has 250,880 ids; 2^24 leaves room for any real vocabulary and keeps
    /// id-indexed tables (a few bytes per id) under a few hundred MiB.
    static let maxVocabularySize = 1 << 24
    /// Most merges. BLOOM has about 250,000.
    static let maxMerges = 1 << 24
    /// Longest token, in UTF-8 bytes. Real vocabularies stay under a few hundred bytes.
    static let maxTokenBytes = 1 << 16
}
