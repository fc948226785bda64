import BloomArch
import BloomCheckpoint
import BloomCore
@testable import BloomConvert
import BloomGGUF
import Foundation
import TestSupport
import XCTest

/// Every fixture model, in every layout, converted to F32: each tensor equals the checkpoint's (QKV re-laid as
/// llama.cpp's converter does), the profile verifies, and the vocabulary matches the tokenizer.
final class ConvertFixtureTests: XCTestCase {
    func testFixtureModelsConvertToF32Exactly() throws {
        let root = try Fixtures.url("models")
        let tmp = try TempDir("convert-tests")
        var converted = 0
        for model in ["tiny-a", "tiny-b"] {
            let layouts = try FileManager.default
                .contentsOfDirectory(atPath: root.appendingPathComponent(model).path).sorted()
            for layout in layouts {
                let folder = root.appendingPathComponent(model).appendingPathComponent(layout).path
                let input = try ConvertInput(folder: folder)
                var options = ConvertOptions()
                options.type = .F32
                options.chunkElements = 4096
                let path = tmp.file("\(model)-\(layout).gguf")
                _ = try Converter.convert(input, to: path, options: options)
                XCTAssertNoThrow(try GGUFVerifier.verify(path: path), "\(model)/\(layout)")
                let file = try GGUFFile(path: path)
                let source = try ModelFolder(path: folder)
                let h = input.hyperParameters
                XCTAssertEqual(file.tensors.count, 5 + 12 * h.blockCount, "\(model)/\(layout): tied head")
                for t in file.tensors {
                    let hf = try XCTUnwrap(BloomTensorNames.hfName(forGGUF: t.name))
                    var expected = try XCTUnwrap(source.tensor(named: hf), hf).floats()
                    if t.name.contains(".attn_qkv.") {
                        expected = llamaCppQKV(expected, heads: h.headCount, headDim: h.headDim,
                                               rowLength: t.ne.count == 2 ? h.embeddingLength : 1)
                    }
                    XCTAssertEqual(t.type, .F32)
                    XCTAssertEqual(try ConvertFixtures.floats(t), expected, "\(model)/\(layout) \(t.name)")
                }
                XCTAssertEqual(try file.metadata.stringArray(BloomGGUFKeys.tokens).count, h.vocabSize)
                converted += 1
            }
        }
        XCTAssertGreaterThanOrEqual(converted, 4)
    }
}
