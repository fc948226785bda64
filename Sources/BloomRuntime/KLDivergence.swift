import BloomArch
import BloomCore
import BloomTokenizer

/// llama-perplexity's `--kl-divergence`: the model runs on the chunks of the base's text (the chunking of
/// `Perplexity`: n_ctx tokens from an empty cache, positions n_ctx/2 … n_ctx−2 scored), and each scored position
/// is compared with the base's log-probabilities in their 16-bit form (`LogProbs16`) — the same form whether they
/// come from a saved file or from running the base model here, so both ways give llama-perplexity's numbers.
public enum KLDivergence {
    /// Compares `model` with log-probabilities saved by `--kl-divergence-base` (bloomkit's or llama-perplexity's).
    /// - Parameters:
    ///   - chunks: at most this many of the file's chunks; nil: all.
    ///   - onChunk: after each chunk, its index and the statistics so far.
    /// - Throws: `.invalidRequest` when the file's vocabulary is not the model's.
    public static func compute(model: BloomModel, base: SavedLogProbs, pool: ThreadPool, chunks: Int? = nil,
                               onChunk: (Int, KLDivergenceStatistics) -> Void = { _, _ in })
        throws -> KLDivergenceResult {
        guard base.vocab == model.hyperParameters.vocabSize else {
            throw BloomError(.invalidRequest, "the saved log-probabilities have a vocabulary of \(base.vocab) tokens, "
                             + "the model \(model.hyperParameters.vocabSize): they come from a model with another "
                             + "tokenizer", path: base.path)
        }
        return try run(model: model, tokens: base.tokens, context: base.context, pool: pool,
                       chunks: min(chunks ?? Int.max, base.chunkCount), base: { c, _ in base.records(chunk: c) },
                       onChunk: onChunk)
    }

    /// Runs `baseModel` and `model` chunk by chunk on `text` and compares them.
    /// - Throws: `.invalidRequest` when the two files do not share the tokenizer, for a bad context or too short
    ///   a text.
    public static func compute(model: BloomModel, baseModel: BloomModel, tokenizer: BloomTokenizer, text: String,
                               context n: Int, pool: ThreadPool, chunks: Int? = nil,
                               onChunk: (Int, KLDivergenceStatistics) -> Void = { _, _ in })
        throws -> KLDivergenceResult {
        try requireSameTokenizer(model, baseModel)
        let tokens = try Perplexity.tokens(text, tokenizer: tokenizer, context: n)
        let vocab = baseModel.hyperParameters.vocabSize, first = n / 2
        let recordLength = LogProbs16.recordLength(vocab: vocab)
        let baseContext = try InferenceContext(model: baseModel, pool: pool, capacity: n, batchCapacity: n)
        let records = UnsafeMutablePointer<UInt16>.allocate(capacity: (n - 1 - first) * recordLength)
        defer { records.deallocate() }
        return try run(model: model, tokens: tokens, context: n, pool: pool,
                       chunks: min(chunks ?? Int.max, tokens.count / n), base: { _, chunk in
            baseContext.reset(slot: 0)
            let logits = try baseContext.evaluate(chunk, logitsFrom: first)
            for j in first..<(n - 1) {
                LogProbs16.encode(logits.baseAddress! + (j - first) * vocab, vocab: vocab, token: Int(chunk[j + 1]),
                                  into: records + (j - first) * recordLength)
            }
            return UnsafePointer(records)
        }, onChunk: onChunk)
    }

    /// Metadata keys that define the tokenizer; two files whose values differ tokenize differently.
    static let tokenizerKeys = [BloomGGUFKeys.tokenizerModel, BloomGGUFKeys.tokenizerPre, BloomGGUFKeys.tokens,
                                BloomGGUFKeys.tokenType, BloomGGUFKeys.merges]

    /// - Throws: `.invalidRequest` naming the first tokenizer key (or the vocabulary size) that differs.
    public static func requireSameTokenizer(_ model: BloomModel, _ base: BloomModel) throws {
        let a = model.hyperParameters.vocabSize, b = base.hyperParameters.vocabSize
        guard a == b else {
            throw BloomError(.invalidRequest,
                             "the models do not share the tokenizer: \(model.path) has a vocabulary of "
                             + "\(a) tokens, \(base.path) \(b)")
        }
        for key in tokenizerKeys where model.metadata[key] != base.metadata[key] {
            throw BloomError(.invalidRequest,
                             "the models do not share the tokenizer: their '\(key)' differ (\(model.path), "
                             + "\(base.path))")
        }
    }

    /// The shared loop: `base(c, chunkTokens)` gives chunk c's records.
    private static func run(model: BloomModel, tokens: [TokenID], context n: Int, pool: ThreadPool, chunks: Int,
                            base: (Int, [TokenID]) throws -> UnsafePointer<UInt16>,
                            onChunk: (Int, KLDivergenceStatistics) -> Void) throws -> KLDivergenceResult {
        let vocab = model.hyperParameters.vocabSize, first = n / 2
        let recordLength = LogProbs16.recordLength(vocab: vocab)
        let ctx = try InferenceContext(model: model, pool: pool, capacity: n, batchCapacity: n)
        var stats = KLDivergenceStatistics()
        for c in 0..<chunks {
            let chunk = Array(tokens[(c * n)..<((c + 1) * n)])
            let records = try base(c, chunk)
            ctx.reset(slot: 0)
            let logits = try ctx.evaluate(chunk, logitsFrom: first)
            for j in first..<(n - 1) {
                stats.add(logits: logits.baseAddress! + (j - first) * vocab, base: records + (j - first) * recordLength,
                          vocab: vocab, token: Int(chunk[j + 1]))
            }
            onChunk(c, stats)
        }
        var result = stats.result
        result.contextLength = n
        result.chunkCount = chunks
        return result
    }
}
