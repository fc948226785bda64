import BloomCore

extension BloomError.Code {
    /// A tensor the model needs is missing, misshapen or of a type the runtime cannot compute with.
    public static let invalidModel: Self = "invalid-model"
    /// A request the model cannot serve (context full, token id outside the vocabulary, empty prompt…).
    public static let invalidRequest: Self = "invalid-request"
    /// The thread pool or a buffer could not be created.
    public static let resources: Self = "resources"
}
