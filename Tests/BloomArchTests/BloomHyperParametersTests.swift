import BloomArch
import BloomCore
import BloomGGUF
import XCTest

final class BloomHyperParametersTests: XCTestCase {
    func testGGUFRoundTripAndStrictTypes() throws {
        let h = try BloomHyperParameters(vocabSize: 3, contextLength: 64, embeddingLength: 64, feedForwardLength: 256,
                                         blockCount: 2, headCount: 4, layerNormEpsilon: 1e-5)
        var m = try GGUFMetadata([("general.architecture", .string("bloom")), ("tokenizer.ggml.tokens", .array(.string(["a", "b", "c"])))]
                                 + h.metadataEntries)
        XCTAssertEqual(try BloomHyperParameters(metadata: m), h)
        for (key, value) in h.metadataEntries {
            if key.hasSuffix("epsilon") { XCTAssertEqual(value.type, .float32) } else { XCTAssertEqual(value.type, .uint32, key) }
        }
        m.set(BloomGGUFKeys.blockCount, .int32(2))
        XCTAssertThrowsError(try BloomHyperParameters(metadata: m)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .ggufWrongType)
        }
        XCTAssertThrowsError(try BloomHyperParameters(vocabSize: 3, contextLength: 64, embeddingLength: 64, feedForwardLength: 256,
                                                      blockCount: 2, headCount: 5, layerNormEpsilon: 1e-5))
    }

    func testAlpacaTemplate() {
        XCTAssertEqual(AlpacaTemplate.render(instruction: "Say {input}", input: nil),
                       "Below is an instruction that describes a task. Write a response that appropriately completes "
                       + "the request.\n\n### Instruction:\nSay {input}\n\n### Response:")
        XCTAssertEqual(AlpacaTemplate.render(instruction: "A", input: "{instruction}"),
                       "Below is an instruction that describes a task, paired with an input that provides further "
                       + "context. Write a response that appropriately completes the request.\n\n### Instruction:\nA"
                       + "\n\n### Input:\n{instruction}\n\n### Response:")
    }
}
