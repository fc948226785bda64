import BloomArch
import BloomCore
import BloomGGUF

extension SamplingParameters {
    /// The sampler settings a file recommends (`general.sampling.*`, which convert writes from the source's
    /// generation_config.json) that bloomkit's sampler has: temperature, top-k, top-p, repeat penalty. llama.cpp's
    /// tools take the same keys as their defaults where no flag is given (common `common_init_sampler_from_model`);
    /// `generate` and `chat` do the same. min_p, mirostat, xtc, penalty_last_n and the sampler sequence have no
    /// bloomkit counterpart and are not read.
    public struct Recommended: Sendable, Equatable {
        public var temperature: Float?
        public var topK: Int?
        public var topP: Float?
        public var repeatPenalty: Float?

        public init(temperature: Float? = nil, topK: Int? = nil, topP: Float? = nil, repeatPenalty: Float? = nil) {
            self.temperature = temperature
            self.topK = topK
            self.topP = topP
            self.repeatPenalty = repeatPenalty
        }

        /// Reads the keys with the types gguf-py writes (INT32 top_k, FLOAT32 others).
        /// - Throws: `.invalidModel` naming the key for another type or a value outside the sampler's range (the
        ///   ranges of `SamplingParameters.validate`; a top-k of 0 or less keeps all tokens, as in llama.cpp).
        public init(metadata: GGUFMetadata) throws {
            temperature = try metadata.optional(BloomGGUFKeys.samplingTemp, GGUFMetadata.float32)
            topK = try metadata.optional(BloomGGUFKeys.samplingTopK, GGUFMetadata.int32).map { max(Int($0), 0) }
            topP = try metadata.optional(BloomGGUFKeys.samplingTopP, GGUFMetadata.float32)
            repeatPenalty = try metadata.optional(BloomGGUFKeys.samplingPenaltyRepeat, GGUFMetadata.float32)
            let checks: [(String, Float?, (Float) -> Bool, String)] = [
                (BloomGGUFKeys.samplingTemp, temperature, { $0.isFinite && $0 >= 0 }, "must be 0 or more"),
                (BloomGGUFKeys.samplingTopP, topP, { $0 > 0 && $0 <= 1 }, "must be in (0, 1]"),
                (BloomGGUFKeys.samplingPenaltyRepeat, repeatPenalty, { $0.isFinite && $0 > 0 }, "must be above 0"),
            ]
            for (key, value, valid, limit) in checks {
                if let value, !valid(value) {
                    throw BloomError(.invalidModel, "\(key) \(value) \(limit)", location: key)
                }
            }
        }
    }

    /// These parameters with each setting the user did not give (nil) taken from `recommended`, else the default.
    public init(temperature: Float?, topK: Int?, topP: Float?, repeatPenalty: Float?, seed: UInt64,
                recommended: Recommended) {
        let defaults = SamplingParameters()
        self.init(temperature: temperature ?? recommended.temperature ?? defaults.temperature,
                  topK: topK ?? recommended.topK ?? defaults.topK,
                  topP: topP ?? recommended.topP ?? defaults.topP,
                  repeatPenalty: repeatPenalty ?? recommended.repeatPenalty ?? defaults.repeatPenalty,
                  seed: seed)
    }
}
