import BloomCore

/// Error codes of the GGUF reader and writer (tests match them; one per way a file can be wrong).
extension BloomError.Code {
    /// The first 4 bytes are not `GGUF`.
    public static let ggufBadMagic: Self = "gguf-bad-magic"
    /// A version other than 2 or 3 (or a big-endian file).
    public static let ggufBadVersion: Self = "gguf-bad-version"
    /// A tensor, KV or array count that cannot fit in the bytes left in the file.
    public static let ggufCountPastEnd: Self = "gguf-count-past-end"
    /// A string whose length runs past the end of the file.
    public static let ggufStringPastEnd: Self = "gguf-string-past-end"
    /// A string that is not valid UTF-8.
    public static let ggufBadString: Self = "gguf-bad-string"
    /// A metadata value type id outside 0…12.
    public static let ggufBadValueType: Self = "gguf-bad-value-type"
    /// An array whose elements are arrays.
    public static let ggufNestedArray: Self = "gguf-nested-array"
    /// A value that its type does not allow (a bool other than 0 or 1).
    public static let ggufBadValue: Self = "gguf-bad-value"
    /// The same key twice.
    public static let ggufDuplicateKey: Self = "gguf-duplicate-key"
    /// `general.alignment` that is not a UINT32 power of two.
    public static let ggufBadAlignment: Self = "gguf-bad-alignment"
    /// A tensor name longer than 63 bytes.
    public static let ggufNameTooLong: Self = "gguf-name-too-long"
    /// The same tensor name twice.
    public static let ggufDuplicateTensor: Self = "gguf-duplicate-tensor"
    /// More than 4 dimensions.
    public static let ggufTooManyDims: Self = "gguf-too-many-dims"
    /// A ggml type id that is unknown or removed.
    public static let ggufBadTensorType: Self = "gguf-bad-tensor-type"
    /// A negative or overflowing dimension, or ne[0] not a whole number of blocks.
    public static let ggufBadShape: Self = "gguf-bad-shape"
    /// A tensor offset that is not the next packed, aligned position.
    public static let ggufBadOffset: Self = "gguf-bad-offset"
    /// Tensor data that ends past the end of the file.
    public static let ggufDataPastEnd: Self = "gguf-data-past-end"
    /// A required key is absent.
    public static let ggufMissingKey: Self = "gguf-missing-key"
    /// A key holds another value type than the one asked for.
    public static let ggufWrongType: Self = "gguf-wrong-type"
    /// A tensor looked up by name is absent.
    public static let ggufMissingTensor: Self = "gguf-missing-tensor"
    /// The writer was fed bytes that do not match what was declared.
    public static let ggufWriteMismatch: Self = "gguf-write-mismatch"
    /// A gguf-split set with a missing part, a part of another set, or split keys that disagree.
    public static let ggufSplitSet: Self = "gguf-split-set"
}
