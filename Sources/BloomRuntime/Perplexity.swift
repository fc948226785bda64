import BloomCore
import BloomTokenizer
import CKernels
import Foundation

/// Perplexity computed as llama.cpp's llama-perplexity computes it (`perplexity()` in tools/perplexity):
/// the text is tokenized once (no BOS: BLOOM adds none) and split into ⌊tokens / n_ctx⌋ non-overlapping chunks
/// of n_ctx tokens (the remainder is dropped); each chunk runs alone from an empty cache, and only its second half
/// is scored: the logits at positions n_ctx/2 … n_ctx-2, each predicting the next token. For each scored position
/// nll = -(logit[next] - max - log Σ e^(logit - max)) with the sum in f64; PPL = exp(Σ nll / count), and the
/// reported ± is llama-perplexity's standard error, exp-propagated.
public struct PerplexityResult: Sendable {
    public var contextLength: Int
    public var chunkCount: Int
    public var scoredTokens: Int
    public var negativeLogLikelihood: Double
    public var perplexity: Double { exp(negativeLogLikelihood / Double(max(scoredTokens, 1))) }
    /// Standard error of the perplexity (llama-perplexity's estimate).
    public var uncertainty: Double
    /// Perplexity after each chunk (what llama-perplexity prints as [1]…, [2]…).
    public var runningPerplexity: [Double]
}

public enum Perplexity {
    /// - Parameters:
    ///   - context: n_ctx, an even number of at least 4.
    ///   - onChunk: called after each chunk with its index and the running perplexity.
    /// - Throws: `.invalidRequest` if the text has fewer than 2·n_ctx tokens (llama-perplexity's requirement);
    ///   `.limitExceeded` if it is longer than `BloomTokenizer.maxTextBytes` (the text usually comes from a file).
    public static func compute(model: BloomModel, tokenizer: BloomTokenizer, text: String, context n: Int,
                               pool: ThreadPool,
                               onChunk: (Int, Double) -> Void = { _, _ in }) throws -> PerplexityResult {
        try compute(model: model, tokens: try tokens(text, tokenizer: tokenizer, context: n), context: n, pool: pool,
                    onChunk: onChunk)
    }

    /// The text's tokens, checked to fill at least two chunks of `context`.
    /// - Throws: `.invalidRequest` for a bad context or too short a text; `.limitExceeded` for too long a text.
    public static func tokens(_ text: String, tokenizer: BloomTokenizer, context n: Int) throws -> [TokenID] {
        guard n >= 4, n % 2 == 0 else {
            throw BloomError(.invalidRequest, "context \(n) must be an even number of at least 4")
        }
        let tokens = try tokenizer.encodeChecked(text)
        guard tokens.count >= 2 * n else {
            throw BloomError(.invalidRequest, "the text has \(tokens.count) tokens; perplexity with context \(n)"
                             + " needs at least \(2 * n)")
        }
        return tokens
    }

    /// Perplexity of `tokens` (see `tokens(_:tokenizer:context:)` for the checks).
    /// - Parameters:
    ///   - chunks: at most this many chunks (llama-perplexity's `--chunks`); nil: all.
    ///   - saving: receives each chunk's scored positions as 16-bit log-probabilities (`--kl-divergence-base`).
    public static func compute(model: BloomModel, tokens: [TokenID], context n: Int, pool: ThreadPool,
                               chunks: Int? = nil, saving: SavedLogProbsWriter? = nil,
                               onChunk: (Int, Double) -> Void = { _, _ in }) throws -> PerplexityResult {
        guard n >= 4, n % 2 == 0, tokens.count >= 2 * n else {
            throw BloomError(.invalidRequest, "perplexity with context \(n) needs an even context of 4 or more and at "
                             + "least \(2 * n) tokens, not \(tokens.count)")
        }
        let chunks = min(chunks ?? Int.max, tokens.count / n), first = n / 2, vocab = model.hyperParameters.vocabSize
        let ctx = try InferenceContext(model: model, pool: pool, capacity: n, batchCapacity: n)
        var nll = 0.0, nll2 = 0.0, count = 0
        var running: [Double] = []
        let recordLength = LogProbs16.recordLength(vocab: vocab)
        var records = [UInt16](repeating: 0, count: saving == nil ? 0 : (n - 1 - first) * recordLength)
        for c in 0..<chunks {
            let chunk = Array(tokens[(c * n)..<((c + 1) * n)])
            ctx.reset(slot: 0)
            let logits = try ctx.evaluate(chunk, logitsFrom: first)
            for j in first..<(n - 1) {
                let row = logits.baseAddress! + (j - first) * vocab
                var maxLogit = row[0]
                for i in 1..<vocab { maxLogit = max(maxLogit, row[i]) }
                var sum = 0.0
                for i in 0..<vocab { sum += Double(expf(row[i] - maxLogit)) }
                let v = -Double(row[Int(chunk[j + 1])] - maxLogit) + log(sum)
                nll += v
                nll2 += v * v
                count += 1
                if saving != nil {
                    records.withUnsafeMutableBufferPointer { r in
                        _ = LogProbs16.encode(row, vocab: vocab, token: Int(chunk[j + 1]),
                                              into: r.baseAddress! + (j - first) * recordLength)
                    }
                }
            }
            try records.withUnsafeBufferPointer { try saving?.append(chunk: $0) }
            running.append(exp(nll / Double(count)))
            onChunk(c, running[c])
        }
        let mean = nll / Double(count), mean2 = nll2 / Double(count)
        let spread = count > 1 ? ((mean2 - mean * mean) / Double(count - 1)).squareRoot() : 0
        return PerplexityResult(contextLength: n, chunkCount: chunks, scoredTokens: count, negativeLogLikelihood: nll,
                                uncertainty: exp(mean) * spread, runningPerplexity: running)
    }
}
