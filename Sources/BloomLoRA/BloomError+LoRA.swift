import BloomCore

extension BloomError.Code {
    /// The adapter uses a PEFT feature whose merge bloomkit does not reproduce (DoRA, PiSSA-style init, …).
    public static let loraUnsupported: Self = "lora-unsupported"
    /// The adapter's config or tensors are malformed or contradict each other.
    public static let loraInvalidAdapter: Self = "lora-invalid-adapter"
    /// A tensor the adapter changes does not exist in the base.
    public static let loraMissingTarget: Self = "lora-missing-target"
    /// A tensor the adapter changes exists in the base with another shape.
    public static let loraShapeMismatch: Self = "lora-shape-mismatch"
    /// Merging gives a NaN, an infinity or a value the stored dtype cannot hold (an absurd lora_alpha, NaN weights).
    public static let loraNonFinite: Self = "lora-non-finite"
}
