import Foundation

/// One position's log-probabilities in llama-perplexity's 16-bit form (`log_softmax(n_vocab, logits, uint16_t *,
/// tok)` in tools/perplexity): `recordLength(vocab)` UInt16s, the first four holding two f32s (scale,
/// min_log_prob), then one code per token: log p(i) ≈ scale·code + min_log_prob. Logits more than 16 below the
/// maximum share code 0 (they count as log p < -16 and drop out of the KL sum).
///
/// Every value is computed in the precision llama-perplexity uses (f32, the exp sum in f64), so a base encoded
/// here and one encoded by llama-perplexity hold the same codes.
public enum LogProbs16 {
    /// UInt16s per position: the vocabulary rounded up to even, plus the two f32 header values.
    public static func recordLength(vocab: Int) -> Int { 2 * ((vocab + 1) / 2) + 4 }

    /// Encodes `logits[0..<vocab]` into `record` (`recordLength(vocab)` UInt16s).
    /// - Returns: the negative log-likelihood of `token` (f32 arithmetic, as llama-perplexity sums it).
    @discardableResult
    public static func encode(_ logits: UnsafePointer<Float>, vocab: Int, token: Int,
                              into record: UnsafeMutablePointer<UInt16>) -> Double {
        var maxLogit = logits[0], minLogit = logits[0]
        for i in 1..<vocab {
            maxLogit = max(maxLogit, logits[i])
            minLogit = min(minLogit, logits[i])
        }
        minLogit = max(minLogit, maxLogit - 16)
        var sumExp = 0.0
        for i in 0..<vocab { sumExp += Double(expf(logits[i] - maxLogit)) }
        let logSumExp = Float(log(sumExp))
        let minLogProb = minLogit - maxLogit - logSumExp
        let scale = (maxLogit - minLogit) / 65535
        UnsafeMutableRawPointer(record).storeBytes(of: scale.bitPattern.littleEndian, as: UInt32.self)
        UnsafeMutableRawPointer(record + 2).storeBytes(of: minLogProb.bitPattern.littleEndian, as: UInt32.self)
        let codes = record + 4
        if scale != 0 {
            let inverse = 1 / scale
            for i in 0..<vocab {
                codes[i] = logits[i] > minLogit ? nearestCode(inverse * (logits[i] - minLogit)) : 0
            }
        } else {
            codes.update(repeating: 0, count: vocab)
        }
        (codes + vocab).update(repeating: 0, count: recordLength(vocab: vocab) - 4 - vocab)
        return Double(maxLogit + logSumExp - logits[token])
    }

    /// The scale and min_log_prob of a record.
    static func header(_ record: UnsafePointer<UInt16>) -> (scale: Float, minLogProb: Float) {
        let raw = UnsafeRawPointer(record)
        return (Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self))),
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))))
    }

    /// ggml's nearest_int (round half to even through the 1.5·2^23 trick); `v` lies in [0, 65535].
    private static func nearestCode(_ v: Float) -> UInt16 {
        let bits = Int32(bitPattern: (v + 12582912).bitPattern)
        return UInt16(truncatingIfNeeded: (bits & 0x007f_ffff) - 0x0040_0000)
    }
}
