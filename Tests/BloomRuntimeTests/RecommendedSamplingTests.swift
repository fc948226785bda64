import BloomArch
import BloomCore
import BloomGGUF
import BloomRuntime
import XCTest

/// A file's `general.sampling.*` keys: read with gguf-py's types, given way to by every flag, refused (naming the
/// key) when of another type or outside the sampler's range.
final class RecommendedSamplingTests: XCTestCase {
    func recommended(_ pairs: [(String, GGUFValue)]) throws -> SamplingParameters.Recommended {
        try SamplingParameters.Recommended(metadata: try GGUFMetadata(pairs))
    }

    func testKeysAreDefaultsThatFlagsOverride() throws {
        let file = try recommended([
            (BloomGGUFKeys.samplingTemp, .float32(0.75)), (BloomGGUFKeys.samplingTopK, .int32(-1)),
            (BloomGGUFKeys.samplingTopP, .float32(0.5)), (BloomGGUFKeys.samplingPenaltyRepeat, .float32(1.25)),
            (BloomGGUFKeys.samplingMinP, .float32(0.05)), (BloomGGUFKeys.samplingMirostat, .int32(2)),
        ])
        // top_k ≤ 0 keeps every token in llama.cpp: bloomkit's 0.
        XCTAssertEqual(file, SamplingParameters.Recommended(temperature: 0.75, topK: 0, topP: 0.5, repeatPenalty: 1.25))
        let defaults = SamplingParameters()
        XCTAssertEqual(SamplingParameters(temperature: nil, topK: nil, topP: nil, repeatPenalty: nil, seed: 3,
                                          recommended: file),
                       SamplingParameters(temperature: 0.75, topK: 0, topP: 0.5, repeatPenalty: 1.25, seed: 3))
        XCTAssertEqual(SamplingParameters(temperature: 0, topK: 7, topP: 1, repeatPenalty: 1, seed: 3,
                                          recommended: file),
                       SamplingParameters(temperature: 0, topK: 7, topP: 1, repeatPenalty: 1, seed: 3))
        XCTAssertEqual(SamplingParameters(temperature: nil, topK: nil, topP: nil, repeatPenalty: nil, seed: 0,
                                          recommended: try recommended([])), defaults)
    }

    func testWrongTypesAndRangesAreRefusedNamingTheKey() throws {
        let cases: [(String, GGUFValue)] = [
            (BloomGGUFKeys.samplingTopK, .float32(40)), (BloomGGUFKeys.samplingTemp, .int32(1)),
            (BloomGGUFKeys.samplingTemp, .float32(-1)), (BloomGGUFKeys.samplingTemp, .float32(.nan)),
            (BloomGGUFKeys.samplingTopP, .float32(0)), (BloomGGUFKeys.samplingTopP, .float32(1.5)),
            (BloomGGUFKeys.samplingPenaltyRepeat, .float32(0)),
        ]
        for (key, value) in cases {
            XCTAssertThrowsError(try recommended([(key, value)]), "\(key) \(value)") { error in
                XCTAssertTrue("\(error)".contains(key), "\(error)")
            }
        }
    }
}
