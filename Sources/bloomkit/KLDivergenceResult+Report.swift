import BloomCore
import BloomRuntime
import Foundation

extension KLDivergenceResult {
    /// llama-perplexity's closing statistics, in its layout.
    func table(seconds: Double) -> String {
        func line(_ label: String, _ e: Estimate) -> String {
            label.padding(toLength: 30, withPad: " ", startingAt: 0)
                + String(format: ": %10.6f ± %10.6f\n", e.value, e.uncertainty)
        }
        var s = "====== Perplexity statistics ======\n"
        s += line("Mean PPL(Q)", perplexity)
        s += line("Mean PPL(base)", basePerplexity)
        s += "Cor(ln(PPL(Q)), ln(PPL(base))): " + String(format: "%6.2f%%\n", 100 * logPerplexityCorrelation)
        s += line("Mean ln(PPL(Q)/PPL(base))", logPerplexityRatio)
        s += line("Mean PPL(Q)/PPL(base)", perplexityRatio)
        s += line("Mean PPL(Q)-PPL(base)", perplexityDifference)
        s += "\n====== KL divergence statistics ======\n"
        s += String(format: "Mean    KLD: %10.6f ± %10.6f\n", meanKLD.value, meanKLD.uncertainty)
        for (label, v) in kldPercentiles { s += Self.label(label) + String(format: " KLD: %10.6f\n", v) }
        s += "\n====== Token probability statistics ======\n"
        s += String(format: "Mean    Δp: %6.3f ± %5.3f %%\n", 100 * meanPDiff.value, 100 * meanPDiff.uncertainty)
        for (label, v) in pDiffPercentiles { s += Self.label(label) + String(format: " Δp: %6.3f%%\n", 100 * v) }
        s += String(format: "RMS Δp    : %6.3f ± %5.3f %%\n", 100 * rmsPDiff.value, 100 * rmsPDiff.uncertainty)
        s += String(format: "Same top p: %6.3f ± %5.3f %%\n", 100 * sameTop.value, 100 * sameTop.uncertainty)
        s += String(format: "\n%d chunks of %d tokens, %d scored, %.1f s\n", chunkCount, contextLength, count, seconds)
        return s
    }

    /// "max" → "Maximum", "99.9" → "99.9%  ", as llama-perplexity labels its rows.
    private static func label(_ key: String) -> String {
        switch key {
        case "max": return "Maximum"
        case "min": return "Minimum"
        case "median": return "Median "
        default: return (key.count < 4 ? " " : "") + key + "%  "
        }
    }

    /// Every statistic; percentiles keyed "max", "99.9" … "min".
    func json(seconds: Double) -> JSONValue {
        func estimate(_ e: Estimate) -> JSONValue {
            .object([("value", .float(e.value)), ("uncertainty", .float(e.uncertainty))])
        }
        func table(_ rows: [(String, Double)]) -> JSONValue { .object(rows.map { ($0.0, .float($0.1)) }) }
        return .object([
            ("perplexity", estimate(perplexity)), ("base_perplexity", estimate(basePerplexity)),
            ("ln_ppl_correlation", .float(logPerplexityCorrelation)), ("ln_ppl_ratio", estimate(logPerplexityRatio)),
            ("ppl_ratio", estimate(perplexityRatio)), ("ppl_difference", estimate(perplexityDifference)),
            ("kld", estimate(meanKLD)), ("kld_percentiles", table(kldPercentiles)),
            ("delta_p", estimate(meanPDiff)), ("delta_p_percentiles", table(pDiffPercentiles)),
            ("rms_delta_p", estimate(rmsPDiff)), ("same_top", estimate(sameTop)),
            ("context", .int(contextLength)), ("chunks", .int(chunkCount)), ("scored_tokens", .int(count)),
            ("seconds", .float(seconds)),
        ])
    }
}
