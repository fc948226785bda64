import BloomCore
import BloomTokenizer
import Foundation

/// Speed measured as llama-bench measures it: each repetition starts from an empty cache; `pp` runs `promptTokens`
/// random token ids as one batch (logits of the last only), `tg` runs `generatedTokens` single-token steps of random
/// ids from position 0; the rate of a repetition is tokens ÷ seconds, reported as mean ± sample standard deviation.
/// One untimed warm-up run of each test comes first (llama-bench's default).
public struct BenchResult: Sendable {
    public var promptTokens: Int
    public var generatedTokens: Int
    public var threads: Int
    /// Tokens per second of each repetition.
    public var promptRates: [Double]
    public var generationRates: [Double]
    /// Time to first token (a 16-token prompt plus choosing the token), milliseconds per repetition.
    public var firstTokenMilliseconds: [Double]

    public static func mean(_ x: [Double]) -> Double { x.isEmpty ? 0 : x.reduce(0, +) / Double(x.count) }
    public static func standardDeviation(_ x: [Double]) -> Double {
        guard x.count > 1 else { return 0 }
        let m = mean(x)
        return (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count - 1)).squareRoot()
    }
}

public enum Bench {
    public static func run(model: BloomModel, pool: ThreadPool, promptTokens: Int, generatedTokens: Int,
                           repetitions: Int,
                           seed: UInt64 = 1) throws -> BenchResult {
        let vocab = model.hyperParameters.vocabSize
        var random = RandomGenerator(seed: seed)
        func randomTokens(_ n: Int) -> [TokenID] { (0..<n).map { _ in TokenID(random.next() % UInt64(vocab)) } }
        let ttftPrompt = 16
        let ctx = try InferenceContext(model: model, pool: pool,
                                       capacity: max(promptTokens, generatedTokens, ttftPrompt, 1),
                                       batchCapacity: max(promptTokens, ttftPrompt))
        var result = BenchResult(promptTokens: promptTokens, generatedTokens: generatedTokens,
                                 threads: pool.threadCount,
                                 promptRates: [], generationRates: [], firstTokenMilliseconds: [])
        func pp(_ n: Int) throws -> Double {
            let tokens = randomTokens(n)
            ctx.reset(slot: 0)
            let start = Date()
            try ctx.evaluate(tokens)
            return Date().timeIntervalSince(start)
        }
        func tg(_ n: Int) throws -> Double {
            var token = randomTokens(1)
            ctx.reset(slot: 0)
            let start = Date()
            for _ in 0..<n {
                try ctx.evaluate(token)
                token[0] = TokenID(random.next() % UInt64(vocab))
            }
            return Date().timeIntervalSince(start)
        }
        func ttft() throws -> Double {
            let tokens = randomTokens(ttftPrompt)
            ctx.reset(slot: 0)
            let start = Date()
            let logits = try ctx.evaluate(tokens)
            _ = Sampler.argmax(logits)
            return Date().timeIntervalSince(start)
        }
        if promptTokens > 0 {
            _ = try pp(promptTokens)
            for _ in 0..<repetitions { result.promptRates.append(Double(promptTokens) / (try pp(promptTokens))) }
        }
        if generatedTokens > 0 {
            _ = try tg(min(generatedTokens, 16))
            for _ in 0..<repetitions {
                result.generationRates.append(Double(generatedTokens) / (try tg(generatedTokens)))
            }
        }
        _ = try ttft()
        for _ in 0..<repetitions { result.firstTokenMilliseconds.append(try ttft() * 1000) }
        return result
    }
}
