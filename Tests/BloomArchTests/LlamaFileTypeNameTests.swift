import BloomArch
import BloomCore
import XCTest

/// Names as llama.cpp's llama_ftype_name (src/llama-model-loader.cpp) spells them.
final class LlamaFileTypeNameTests: XCTestCase {
    func testNamesFromGeneralFileType() {
        XCTAssertEqual(LlamaFileTypeName.name(fileType: 15, tensorTypes: [.Q6_K, .Q6_K]), "Q4_K - Medium")
        XCTAssertEqual(LlamaFileTypeName.name(fileType: 0, tensorTypes: []), "all F32")
        XCTAssertEqual(LlamaFileTypeName.name(fileType: 18, tensorTypes: []), "Q6_K")
        XCTAssertEqual(LlamaFileTypeName.name(fileType: 999, tensorTypes: []), "unknown, may not work")
    }

    /// Without general.file_type llama.cpp takes the most common tensor type, the first to reach the count on a tie.
    func testGuessesFromTheMostCommonTensorType() {
        XCTAssertEqual(LlamaFileTypeName.name(fileType: nil, tensorTypes: [.F32, .Q4_K, .Q4_K, .F32, .Q4_K]),
                       "(guessed) Q4_K - Medium")
        XCTAssertEqual(LlamaFileTypeName.name(fileType: nil, tensorTypes: [.Q8_0, .F16, .F16, .Q8_0]),
                       "(guessed) F16")
        XCTAssertEqual(LlamaFileTypeName.name(fileType: nil, tensorTypes: []), "(guessed) all F32")
    }
}
