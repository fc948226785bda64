import Foundation

/// The running sums of llama-perplexity's `--kl-divergence` (`kl_divergence_result` and the `log_softmax` that
/// fills it in tools/perplexity): per scored position the negative log-likelihoods of the model (Q) and of the
/// base (from its 16-bit record), KL(base ‖ Q) summed over the tokens whose base log-probability is above -16,
/// whether the top tokens agree, and Δp = p_Q(next) − p_base(next). Each term is computed in the precision
/// llama-perplexity uses (f32 values, f64 sums), so the statistics match its printout.
public struct KLDivergenceStatistics: Sendable {
    var sumNLL = 0.0, sumNLL2 = 0.0
    var sumNLLBase = 0.0, sumNLLBase2 = 0.0, sumNLLProduct = 0.0
    var sumKLD = 0.0, sumKLD2 = 0.0
    var sumPDiff = 0.0, sumPDiff2 = 0.0, sumPDiff4 = 0.0
    var maxPDiff: Float = 0
    public private(set) var sameTop = 0
    public private(set) var count = 0
    /// KL divergence of each position, in order.
    public private(set) var kldValues: [Float] = []
    /// Δp of each position, in order.
    public private(set) var pDiffValues: [Float] = []

    public init() {}

    /// Adds one position: the model's logits and the base's record (`LogProbs16.recordLength(vocab)` UInt16s).
    public mutating func add(logits: UnsafePointer<Float>, base record: UnsafePointer<UInt16>, vocab: Int, token: Int) {
        var maxLogit = logits[0], top = 0
        for i in 1..<vocab where logits[i] > maxLogit {
            maxLogit = logits[i]
            top = i
        }
        var sumExp = 0.0
        for i in 0..<vocab { sumExp += Double(expf(logits[i] - maxLogit)) }
        let logSumExp = Float(log(sumExp))
        let (scale, minLogProb) = LogProbs16.header(record)
        let codes = record + 4

        let nll = maxLogit + logSumExp - logits[token]
        sumNLL += Double(nll)
        sumNLL2 += Double(nll * nll)
        let nllBase = -(scale * Float(codes[token]) + minLogProb)
        sumNLLBase += Double(nllBase)
        sumNLLBase2 += Double(nllBase * nllBase)
        sumNLLProduct += Double(nll * nllBase)

        let logNorm = maxLogit + logSumExp
        var kld = 0.0
        var topBase = 0, topBaseLogProb: Float = 0
        for i in 0..<vocab {
            let logP = scale * Float(codes[i]) + minLogProb
            if i == 0 || logP > topBaseLogProb {
                topBaseLogProb = logP
                topBase = i
            }
            if logP > -16 { kld += Double(expf(logP) * (logP - logits[i] + logNorm)) }
        }
        sumKLD += kld
        sumKLD2 += kld * kld
        count += 1
        if top == topBase { sameTop += 1 }

        let pDiff = expf(-nll) - expf(-nllBase)
        sumPDiff += Double(pDiff)
        let pDiff2 = Double(pDiff * pDiff)
        sumPDiff2 += pDiff2
        sumPDiff4 += pDiff2 * pDiff2
        maxPDiff = max(maxPDiff, abs(pDiff))
        kldValues.append(Float(kld))
        pDiffValues.append(pDiff)
    }

    /// The statistics llama-perplexity prints at the end.
    public var result: KLDivergenceResult { KLDivergenceResult(self, percentiles: true) }
    /// The same without the percentiles (no sorting): what llama-perplexity prints after each chunk.
    public var runningSummary: KLDivergenceResult { KLDivergenceResult(self, percentiles: false) }
}

/// A value with its standard error.
public struct Estimate: Sendable, Equatable {
    public var value: Double
    public var uncertainty: Double
}

/// llama-perplexity's `--kl-divergence` summary. Percentiles interpolate between sorted values in f32 as it does.
public struct KLDivergenceResult: Sendable {
    /// Scored positions.
    public let count: Int
    public internal(set) var contextLength = 0
    public internal(set) var chunkCount = 0
    public let perplexity: Estimate
    public let basePerplexity: Estimate
    /// Correlation of ln PPL(Q) and ln PPL(base), in [−1, 1].
    public let logPerplexityCorrelation: Double
    public let logPerplexityRatio: Estimate
    public let perplexityRatio: Estimate
    public let perplexityDifference: Estimate
    public let meanKLD: Estimate
    /// (label, value) from the maximum down to the minimum: "max", "99.9", "99.0", "95.0", "90.0", "median",
    /// "10.0", "5.0", "1.0", "0.1", "min".
    public let kldPercentiles: [(String, Double)]
    public let meanPDiff: Estimate
    /// As `kldPercentiles`, with "75.0" and "25.0" added.
    public let pDiffPercentiles: [(String, Double)]
    public let rmsPDiff: Estimate
    /// Share of positions whose most likely token is the base's.
    public let sameTop: Estimate

    init(_ s: KLDivergenceStatistics, percentiles: Bool) {
        count = s.count
        func meanAndUncertainty(_ sum: Double, _ sum2: Double) -> Estimate {
            guard s.count >= 1 else { return Estimate(value: 0, uncertainty: 0) }
            let n = Double(s.count), f = sum / n, df = sum2 / n - f * f
            return Estimate(value: f, uncertainty: df > 0 && s.count > 10 ? (df / (n - 1)).squareRoot() : 0)
        }
        let n = Double(s.count)
        let covariance = s.count < 10 ? 0 : (s.sumNLLProduct / n - (s.sumNLL / n) * (s.sumNLLBase / n)) / (n - 1)
        let logPPL = meanAndUncertainty(s.sumNLL, s.sumNLL2)
        let logBase = meanAndUncertainty(s.sumNLLBase, s.sumNLLBase2)
        perplexity = Estimate(value: exp(logPPL.value), uncertainty: exp(logPPL.value) * logPPL.uncertainty)
        basePerplexity = Estimate(value: exp(logBase.value), uncertainty: exp(logBase.value) * logBase.uncertainty)
        logPerplexityCorrelation = covariance / (logPPL.uncertainty * logBase.uncertainty)
        let ratioSpread = (logPPL.uncertainty * logPPL.uncertainty + logBase.uncertainty * logBase.uncertainty
            - 2 * covariance).squareRoot()
        logPerplexityRatio = Estimate(value: logPPL.value - logBase.value, uncertainty: ratioSpread)
        let ratio = exp(logPerplexityRatio.value)
        perplexityRatio = Estimate(value: ratio, uncertainty: ratio * ratioSpread)
        let pplCovariance = perplexity.value * basePerplexity.value * covariance
        perplexityDifference = Estimate(
            value: perplexity.value - basePerplexity.value,
            uncertainty: (perplexity.uncertainty * perplexity.uncertainty
                + basePerplexity.uncertainty * basePerplexity.uncertainty - 2 * pplCovariance).squareRoot())
        meanKLD = meanAndUncertainty(s.sumKLD, s.sumKLD2)
        meanPDiff = meanAndUncertainty(s.sumPDiff, s.sumPDiff2)
        let mse = meanAndUncertainty(s.sumPDiff2, s.sumPDiff4)
        let rms = mse.value.squareRoot()
        rmsPDiff = Estimate(value: rms, uncertainty: 0.5 / rms * mse.uncertainty)
        let top = n > 0 ? Double(s.sameTop) / n : 0
        sameTop = Estimate(value: top, uncertainty: (top * (1 - top) / (n - 1)).squareRoot())
        kldPercentiles = percentiles
            ? Self.percentiles(s.kldValues.sorted(), [0.999, 0.99, 0.95, 0.90, 0.5, 0.10, 0.05, 0.01, 0.001]) : []
        pDiffPercentiles = percentiles
            ? Self.percentiles(s.pDiffValues.sorted(),
                               [0.999, 0.99, 0.95, 0.90, 0.75, 0.5, 0.25, 0.10, 0.05, 0.01, 0.001])
            : []
    }

    /// "max", the fractions (0.5 as "median", the mean of the two middle values for an even count), "min".
    private static func percentiles(_ v: [Float], _ fractions: [Float]) -> [(String, Double)] {
        guard let lo = v.first, let hi = v.last else { return [] }
        var out: [(String, Double)] = [("max", Double(hi))]
        for f in fractions {
            if f == 0.5 {
                let m = v.count / 2
                out.append(("median", Double(v.count % 2 == 0 ? 0.5 * (v[m] + v[m - 1]) : v[m])))
            } else {
                let p = f * Float(v.count - 1), i = Int(p), t = p - Float(i)
                let value = (1 - t) * v[i] + t * v[min(i + 1, v.count - 1)]
                out.append((String(format: "%.1f", Double(f) * 100), Double(value)))
            }
        }
        out.append(("min", Double(lo)))
        return out
    }
}
