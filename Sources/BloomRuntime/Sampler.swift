import BloomCore
import BloomTokenizer
import CKernels

/// How the next token is chosen (transformers' logits processors, in its order: repetition penalty, then
/// temperature, top-k and top-p when sampling).
public struct SamplingParameters: Sendable, Equatable {
    /// 0 (the default) is greedy decoding: the most likely token, the first one on ties (torch.argmax).
    public var temperature: Float = 0
    /// Keep the k most likely tokens (and any tied with the k-th); 0 keeps all. transformers' default: 50.
    public var topK: Int = 50
    /// Keep the most likely tokens whose probabilities sum to at least p; 1 keeps all.
    public var topP: Float = 1
    /// transformers' RepetitionPenaltyLogitsProcessor: a logit of a token already in the sequence (prompt included)
    /// is divided by the penalty if positive, multiplied if negative; 1 is off.
    public var repeatPenalty: Float = 1
    /// Seed of the sampler's random numbers: the same seed gives the same tokens, whatever the thread count.
    public var seed: UInt64 = 0

    public init(temperature: Float = 0, topK: Int = 50, topP: Float = 1, repeatPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repeatPenalty = repeatPenalty
        self.seed = seed
    }

    public var isGreedy: Bool { temperature <= 0 }

    /// - Throws: `.invalidArgument` for values outside their range.
    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else {
            throw BloomError(.invalidArgument, "temperature \(temperature) must be 0 or more")
        }
        guard topK >= 0 else { throw BloomError(.invalidArgument, "top-k \(topK) must be 0 or more") }
        guard topP > 0, topP <= 1 else { throw BloomError(.invalidArgument, "top-p \(topP) must be in (0, 1]") }
        guard repeatPenalty.isFinite, repeatPenalty > 0 else {
            throw BloomError(.invalidArgument, "repeat penalty \(repeatPenalty) must be above 0")
        }
    }
}

/// xoshiro256** seeded through splitmix64: a small, fast generator whose stream depends only on the seed.
struct RandomGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var x = seed
        func next() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (next(), next(), next(), next())
    }

    mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// Picks tokens from logits. Holds its candidate buffers so the token loop does not allocate.
struct Sampler {
    let parameters: SamplingParameters
    private var random: RandomGenerator
    private var seen: Set<TokenID> = []
    private var candidates: [(id: TokenID, logit: Float)] = []
    private var weights: [Double] = []
    private var heap: [Float] = []

    init(parameters: SamplingParameters) {
        self.parameters = parameters
        random = RandomGenerator(seed: parameters.seed)
    }

    /// Tokens the repetition penalty applies to (the prompt and what has been generated).
    mutating func remember<S: Sequence>(_ tokens: S) where S.Element == TokenID { seen.formUnion(tokens) }

    /// Applies the repetition penalty in place (transformers' RepetitionPenaltyLogitsProcessor).
    func penalize(_ logits: UnsafeMutableBufferPointer<Float>) {
        guard parameters.repeatPenalty != 1 else { return }
        let p = parameters.repeatPenalty
        for id in seen where Int(id) < logits.count {
            let v = logits[Int(id)]
            logits[Int(id)] = v < 0 ? v * p : v / p
        }
    }

    /// The next token for `logits` (modified in place by the penalty).
    mutating func next(_ logits: UnsafeMutableBufferPointer<Float>) -> TokenID {
        penalize(logits)
        if parameters.isGreedy { return Sampler.argmax(UnsafeBufferPointer(logits)) }
        return sample(logits)
    }

    /// The first index of the largest value.
    static func argmax(_ x: UnsafeBufferPointer<Float>) -> TokenID {
        var best = 0
        var value = -Float.infinity
        for i in 0..<x.count where x[i] > value {
            value = x[i]
            best = i
        }
        return TokenID(best)
    }

    /// Temperature, top-k, top-p, then one draw. Only the candidates that can matter are sorted: the top k (found
    /// with a k-element heap), or without top-k those within a margin of the best logit, widened until they hold
    /// the top-p mass. With neither filter the draw walks the whole vocabulary in id order.
    private mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>) -> TokenID {
        let n = logits.count
        guard let base = logits.baseAddress, n > 0 else { return 0 }
        let invT = 1 / parameters.temperature
        for i in 0..<n { logits[i] *= invT }
        let maxLogit = bk_max(base, Int64(n))
        let k = parameters.topK > 0 ? min(parameters.topK, n) : n
        candidates.removeAll(keepingCapacity: true)
        if k < n {
            let kth = kthLargest(logits, k)
            for i in 0..<n where logits[i] >= kth { candidates.append((TokenID(i), logits[i])) }  // ties stay
        } else if parameters.topP < 1 {
            let total = Double(bk_sum_exp(base, Int64(n), maxLogit))  // Σ e^(logit - max), whole vocabulary
            var margin: Float = 16
            while true {
                candidates.removeAll(keepingCapacity: true)
                let floor = maxLogit - margin
                var mass = 0.0
                for i in 0..<n where logits[i] >= floor {
                    candidates.append((TokenID(i), logits[i]))
                    mass += Double(bk_exp_scalar(logits[i] - maxLogit))
                }
                if mass / total >= Double(parameters.topP) || candidates.count == n || !margin.isFinite { break }
                margin *= 2
            }
        } else {
            return drawFromAll(logits, maxLogit: maxLogit)
        }
        guard !candidates.isEmpty else { return Sampler.argmax(UnsafeBufferPointer(logits)) }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        var keep = candidates.count
        // top-p on the renormalized survivors (TopPLogitsWarper runs after top-k), keeping at least one
        weights.removeAll(keepingCapacity: true)
        var sum = 0.0
        for j in 0..<keep {
            weights.append(Double(bk_exp_scalar(candidates[j].logit - maxLogit)))
            sum += weights[j]
        }
        if parameters.topP < 1 {
            var cumulative = 0.0
            for j in 0..<keep {
                cumulative += weights[j] / sum
                if cumulative >= Double(parameters.topP) {
                    keep = j + 1
                    break
                }
            }
            sum = weights[0..<keep].reduce(0, +)
        }
        let u = random.nextUnit() * sum
        var acc = 0.0
        for j in 0..<keep {
            acc += weights[j]
            if u < acc { return candidates[j].id }
        }
        return candidates[keep - 1].id
    }

    /// The k-th largest logit (k < count), with a k-element min-heap.
    private mutating func kthLargest(_ logits: UnsafeMutableBufferPointer<Float>, _ k: Int) -> Float {
        heap.removeAll(keepingCapacity: true)
        for i in 0..<logits.count {
            let v = logits[i]
            if heap.count < k {
                heap.append(v)
                var c = heap.count - 1
                while c > 0, heap[(c - 1) / 2] > heap[c] {
                    heap.swapAt(c, (c - 1) / 2)
                    c = (c - 1) / 2
                }
            } else if v > heap[0] {
                heap[0] = v
                var p = 0
                while true {
                    let l = 2 * p + 1, r = l + 1
                    var m = p
                    if l < k, heap[l] < heap[m] { m = l }
                    if r < k, heap[r] < heap[m] { m = r }
                    if m == p { break }
                    heap.swapAt(p, m)
                    p = m
                }
            }
        }
        return heap[0]
    }

    /// One draw from softmax(logits) over the whole vocabulary, walking the ids in order.
    private mutating func drawFromAll(_ logits: UnsafeMutableBufferPointer<Float>, maxLogit: Float) -> TokenID {
        let n = logits.count
        guard let base = logits.baseAddress else { return 0 }
        for i in 0..<n { logits[i] -= maxLogit }
        bk_exp(base, base, Int64(n))  // the logits buffer now holds the weights
        var total = 0.0
        for i in 0..<n { total += Double(logits[i]) }
        let u = random.nextUnit() * total
        var acc = 0.0
        for i in 0..<n {
            acc += Double(logits[i])
            if u < acc { return TokenID(i) }
        }
        return TokenID(n - 1)
    }
}

/// e^x with the kernels' exp (identical on every thread count and CPU path).
@inline(__always)
func bk_exp_scalar(_ x: Float) -> Float {
    var input = x, output: Float = 0
    bk_exp_ref(&input, &output, 1)
    return output
}
