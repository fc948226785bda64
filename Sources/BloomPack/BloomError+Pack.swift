import BloomCore

/// Error codes of the .bkz reader and writer (tests match them; one per way a packed file can be wrong).
extension BloomError.Code {
    /// The first 4 bytes are not `BKZ\u{1A}`.
    public static let bkzBadMagic: Self = "bkz-bad-magic"
    /// A format version this build does not read.
    public static let bkzBadVersion: Self = "bkz-bad-version"
    /// The header's index range is not the end of the file, or a count runs past the index.
    public static let bkzBadIndex: Self = "bkz-bad-index"
    /// The frames the index names do not tile the data region exactly (past the end, gaps, overlap).
    public static let bkzFramePastEnd: Self = "bkz-frame-past-end"
    /// A zstd frame that does not decode to exactly the size the index records (a frame bomb, a corrupt frame).
    public static let bkzBadFrame: Self = "bkz-bad-frame"
    /// Bytes whose xxh64 differs from the one recorded at pack time.
    public static let bkzChecksumMismatch: Self = "bkz-checksum-mismatch"
    /// A stored path that is absolute, empty, has `.`/`..` components, or repeats.
    public static let bkzBadPath: Self = "bkz-bad-path"
    /// An output that already exists or is one of the inputs.
    public static let bkzBadOutput: Self = "bkz-bad-output"
    /// zstd itself failed (out of memory, a bad parameter).
    public static let bkzZstd: Self = "bkz-zstd"
}
