/// The one way a user's text file is read (`tokenize --file`, `perplexity`): through the input door, its size
/// checked before a byte is read, then checked as UTF-8.
public enum TextFile {
    /// The largest text file read. Evaluation texts are a few MB (wikitext-2 test: 1.3 MB, train: 11 MB). Byte-level
    /// BPE gives at most one token per text byte, so this also bounds what a text file can make bloomkit hold: the
    /// mapped text and at most one 4-byte id (plus the tokenizer's working copy) per byte.
    public static let maxBytes = 32 << 20

    /// - Throws: `.io` (missing, not a regular file), `.limitExceeded` past `maxBytes` (before reading),
    ///   `.invalidArgument` for bytes that are not UTF-8.
    public static func read(_ path: String) throws -> String {
        let file = try MappedFile(path: path, maxBytes: maxBytes, what: "text file")
        file.identity.map(InputFiles.pin)
        guard let text = withExtendedLifetime(file, { String(validating: file.bytes, as: UTF8.self) }) else {
            throw BloomError(.invalidArgument, "the text file is not valid UTF-8", path: path)
        }
        return text
    }
}
