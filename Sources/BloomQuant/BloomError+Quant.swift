import BloomCore

extension BloomError.Code {
    /// A row length that is not a whole number of blocks, or buffers that do not hold the rows they claim.
    public static let quantShape: Self = "quant-shape"
    /// A ggml type the quantizer neither writes nor reads (it handles F32, F16, BF16, Q8_0, Q4_0 and Q4_1).
    public static let quantUnsupportedType: Self = "quant-unsupported-type"
}
