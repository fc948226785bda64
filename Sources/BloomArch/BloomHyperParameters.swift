import BloomCore
import BloomGGUF

/// BLOOM's hyper-parameters as a GGUF file carries them (what the runtime uses), with llama.cpp's keys and
/// value types. The vocabulary size is not a key: it is `token_embd.weight`'s ne[1] (and the token list's length).
public struct BloomHyperParameters: Sendable, Equatable {
    public var vocabSize: Int
    /// `bloom.context_length`: llama.cpp's converter writes `seq_length` or else hidden_size (BLOOM configs have
    /// no seq_length); ALiBi does not limit the context, so this is advisory.
    public var contextLength: Int
    public var embeddingLength: Int
    /// 4 × embedding_length for every BLOOM.
    public var feedForwardLength: Int
    public var blockCount: Int
    public var headCount: Int
    public var headCountKV: Int
    public var layerNormEpsilon: Float

    public init(vocabSize: Int, contextLength: Int, embeddingLength: Int, feedForwardLength: Int, blockCount: Int,
                headCount: Int, headCountKV: Int? = nil, layerNormEpsilon: Float) throws {
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength
        self.blockCount = blockCount
        self.headCount = headCount
        self.headCountKV = headCountKV ?? headCount
        self.layerNormEpsilon = layerNormEpsilon
        try validate()
    }

    /// Elements per attention head.
    public var headDim: Int { embeddingLength / headCount }

    /// Reads the `bloom.*` keys (strict value types, like llama.cpp) and the vocabulary size from the token list.
    /// - Throws: `.ggufMissingKey`, `.ggufWrongType`, or `.invalidArgument` for values BLOOM cannot have.
    public init(metadata m: GGUFMetadata) throws {
        let arch = try m.string(BloomGGUFKeys.architecture)
        guard arch == "bloom" else {
            throw BloomError(.unsupported, "general.architecture is '\(arch)', expected 'bloom'")
        }
        let heads = Int(try m.uint32(BloomGGUFKeys.headCount))
        try self.init(
            vocabSize: try m.stringArray(BloomGGUFKeys.tokens).count,
            contextLength: Int(try m.uint32(BloomGGUFKeys.contextLength)),
            embeddingLength: Int(try m.uint32(BloomGGUFKeys.embeddingLength)),
            feedForwardLength: Int(try m.uint32(BloomGGUFKeys.feedForwardLength)),
            blockCount: Int(try m.uint32(BloomGGUFKeys.blockCount)),
            headCount: heads,
            headCountKV: try m.optional(BloomGGUFKeys.headCountKV, GGUFMetadata.uint32).map(Int.init) ?? heads,
            layerNormEpsilon: try m.float32(BloomGGUFKeys.layerNormEpsilon))
    }

    /// The `bloom.*` KVs, in llama.cpp's converter order (general.architecture goes first
    /// in a file; see `Converter.metadata` and Formats/gguf-bloom-profile.md).
    public var metadataEntries: [(String, GGUFValue)] {
        [
            (BloomGGUFKeys.contextLength, .uint32(UInt32(contextLength))),
            (BloomGGUFKeys.embeddingLength, .uint32(UInt32(embeddingLength))),
            (BloomGGUFKeys.feedForwardLength, .uint32(UInt32(feedForwardLength))),
            (BloomGGUFKeys.blockCount, .uint32(UInt32(blockCount))),
            (BloomGGUFKeys.headCount, .uint32(UInt32(headCount))),
            (BloomGGUFKeys.headCountKV, .uint32(UInt32(headCountKV))),
            (BloomGGUFKeys.layerNormEpsilon, .float32(layerNormEpsilon)),
        ]
    }

    /// Positive sizes that fit GGUF's UINT32, heads dividing the width, plain multi-head attention. Errors name the
    /// GGUF key (`location`) and its value; the caller adds the file.
    func validate() throws {
        typealias K = BloomGGUFKeys
        func fail(_ key: String, _ message: String, _ code: BloomError.Code = .invalidArgument) -> BloomError {
            BloomError(code, message, location: "key '\(key)'")
        }
        let sizes = [("vocabulary size (\(K.tokens) entries)", K.tokens, vocabSize),
                     (K.contextLength, K.contextLength, contextLength),
                     (K.embeddingLength, K.embeddingLength, embeddingLength),
                     (K.feedForwardLength, K.feedForwardLength, feedForwardLength),
                     (K.blockCount, K.blockCount, blockCount), (K.headCount, K.headCount, headCount)]
        for (what, key, v) in sizes where v <= 0 || v > Int(UInt32.max) {
            throw fail(key, "\(what) \(v) is not between 1 and \(UInt32.max)")
        }
        // block_count may come from a downloaded GGUF, and the expected tensor list grows with it: the same bound as
        // config.json's.
        guard blockCount <= BloomConfig.maxLayerCount else {
            throw fail(K.blockCount, "\(K.blockCount) \(blockCount) is past the limit of \(BloomConfig.maxLayerCount)")
        }
        // Each head owns embedding_length / head_count columns of Q, K and V: a count that does not divide the width
        // (or exceeds it) has no head dimension.
        guard embeddingLength % headCount == 0 else {
            throw fail(K.headCount, "\(K.headCount) \(headCount) does not divide \(K.embeddingLength) "
                       + "\(embeddingLength) (at most \(embeddingLength) heads, a divisor of it)")
        }
        guard headCountKV == headCount else {
            throw fail(K.headCountKV, "\(K.headCountKV) \(headCountKV) differs from \(K.headCount) \(headCount); "
                       + "BLOOM uses plain multi-head attention", .unsupported)
        }
        guard layerNormEpsilon.isFinite, layerNormEpsilon > 0 else {
            throw fail(K.layerNormEpsilon, "\(K.layerNormEpsilon) \(layerNormEpsilon) is not a positive number")
        }
    }
}
