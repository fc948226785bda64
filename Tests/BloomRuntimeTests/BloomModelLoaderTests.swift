import BloomCore
import BloomTokenizer
import BloomGGUF
import XCTest
@testable import BloomRuntime

/// The loader requires every tensor by name with its shape and a computable type, and refuses strays; requests
/// past the context or outside the vocabulary are errors, not traps.
final class BloomModelLoaderTests: XCTestCase {
    /// A GGUF file with some tensors dropped, retyped, reshaped or added.
    struct EditedSource: WeightSource {
        let file: GGUFFile
        var dropped: Set<String> = []
        var edits: [String: (type: GGMLType, ne: [Int], bytes: UnsafeRawBufferPointer)] = [:]

        var path: String { file.path }
        var metadata: GGUFMetadata { file.metadata }
        var storage: AnyObject { file }
        var tensorNames: [String] { file.tensors.map(\.name).filter { !dropped.contains($0) } + edits.keys.filter { file.tensor(named: $0) == nil } }
        func rawTensor(named name: String) -> (type: GGMLType, ne: [Int], bytes: UnsafeRawBufferPointer)? {
            if dropped.contains(name) { return nil }
            return edits[name] ?? file.rawTensor(named: name)
        }
    }

    private func source() throws -> EditedSource {
        EditedSource(file: try GGUFFile(path: FixtureModels.shared.path("tiny-a", .F32)))
    }

    private func assertRefused(_ s: EditedSource, _ tensor: String, _ words: String, line: UInt = #line) {
        XCTAssertThrowsError(try BloomModel(source: s), line: line) { error in
            guard let e = error as? BloomError else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(e.code, .invalidModel, line: line)
            XCTAssertEqual(e.location, tensor, line: line)
            XCTAssertTrue(e.message.contains(words), "\(e.message)", line: line)
        }
    }

    func testTheFixtureLoadsWithATiedHead() throws {
        let model = try BloomModel(source: try source())
        XCTAssertTrue(model.isOutputTied)
        XCTAssertEqual(model.blocks.count, model.hyperParameters.blockCount)
    }

    func testMissingTensorIsNamed() throws {
        var s = try source()
        s.dropped = ["blk.1.ffn_up.bias"]
        assertRefused(s, "blk.1.ffn_up.bias", "missing")
    }

    func testMisshapenTensorIsNamed() throws {
        var s = try source()
        let t = try XCTUnwrap(s.file.rawTensor(named: "blk.0.attn_qkv.weight"))
        s.edits["blk.0.attn_qkv.weight"] = (t.type, [t.ne[0], t.ne[1] - 1], UnsafeRawBufferPointer(rebasing: t.bytes.dropLast(t.ne[0] * 4)))
        assertRefused(s, "blk.0.attn_qkv.weight", "ne")
    }

    func testNormsMustBeF32AndMatricesComputable() throws {
        var s = try source()
        let norm = try XCTUnwrap(s.file.rawTensor(named: "output_norm.weight"))
        s.edits["output_norm.weight"] = (.F16, norm.ne, UnsafeRawBufferPointer(rebasing: norm.bytes.prefix(norm.bytes.count / 2)))
        assertRefused(s, "output_norm.weight", "f16")
        s = try source()
        let w = try XCTUnwrap(s.file.rawTensor(named: "blk.1.ffn_down.weight"))
        s.edits["blk.1.ffn_down.weight"] = (.IQ4_NL, w.ne, w.bytes)
        assertRefused(s, "blk.1.ffn_down.weight", "iq4_nl")
    }

    /// A K-quant tensor whose rows are not whole 256-element super-blocks is refused by name and type.
    func testKQuantRowsMustBeWholeSuperBlocks() throws {
        var s = try source()
        let w = try XCTUnwrap(s.file.rawTensor(named: "blk.0.ffn_up.weight"))
        XCTAssertNotEqual(w.ne[0] % 256, 0, "the fixture's hidden size")
        s.edits["blk.0.ffn_up.weight"] = (.Q4_K, w.ne, w.bytes)
        assertRefused(s, "blk.0.ffn_up.weight", "q4_k with rows of \(w.ne[0]) elements, not a multiple of its 256")
    }

    func testShortTensorDataIsRefused() throws {
        var s = try source()
        let w = try XCTUnwrap(s.file.rawTensor(named: "blk.0.ffn_up.weight"))
        s.edits["blk.0.ffn_up.weight"] = (w.type, w.ne, UnsafeRawBufferPointer(rebasing: w.bytes.dropLast(4)))
        assertRefused(s, "blk.0.ffn_up.weight", "bytes")
    }

    func testStrayTensorIsRefused() throws {
        var s = try source()
        let bias = try XCTUnwrap(s.file.rawTensor(named: "blk.0.ffn_up.bias"))
        s.edits["blk.0.ffn_gate.weight"] = bias
        assertRefused(s, "blk.0.ffn_gate.weight", "not part")
    }

    func testBadRequestsThrow() throws {
        let model = try FixtureModels.shared.model("tiny-a", .F32)
        let ctx = try InferenceContext(model: model, pool: try ThreadPool(threads: 1), capacity: 4)
        XCTAssertThrowsError(try ctx.evaluate([1, 2, 3, 4, 5])) { XCTAssertEqual(($0 as? BloomError)?.code, .invalidRequest) }
        XCTAssertThrowsError(try ctx.evaluate([TokenID(model.hyperParameters.vocabSize)])) { XCTAssertEqual(($0 as? BloomError)?.code, .invalidRequest) }
        XCTAssertThrowsError(try ctx.evaluate([-1])) { XCTAssertEqual(($0 as? BloomError)?.code, .invalidRequest) }
        XCTAssertThrowsError(try ctx.evaluate([])) { XCTAssertEqual(($0 as? BloomError)?.code, .invalidRequest) }
        try ctx.evaluate([1, 2, 3, 4])
        XCTAssertThrowsError(try ctx.evaluate([1])) { XCTAssertEqual(($0 as? BloomError)?.code, .invalidRequest) }
    }
}
