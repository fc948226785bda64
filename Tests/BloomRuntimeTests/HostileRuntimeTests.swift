import BloomArch
import BloomCore
import BloomGGUF
import BloomRuntime
import Foundation
import TestSupport
import XCTest

/// Issue 11, silent success: a model whose weights hold NaN must not generate `<unk>` and exit 0, and a prompt
/// template without its placeholder must not drop the instruction.
final class HostileRuntimeTests: XCTestCase {
    func testNaNWeightsStopTheFirstEvaluationNamingTheTensor() throws {
        let source = try HostileModelTests.fuzzFile("corpus/fuzz-gguf/tiny-bloom.gguf")
        let file = try GGUFFile(path: source)
        let target = "blk.0.ffn_up.weight"
        let t = try XCTUnwrap(file.tensor(named: target))
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: source)))
        let at = file.dataOffset + t.info.offset
        switch t.type {
        case .F32:
            withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bytes.replaceSubrange(at..<at + 4, with: $0) }
        case .F16, .Q8_0, .Q4_0, .Q4_1:
            bytes.replaceSubrange(at..<at + 2, with: [0x00, 0x7E])  // f16 NaN (a block's scale)
        default: throw XCTSkip("tensor type \(t.type.name)")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bloomkit-nan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("nan.gguf").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let model = try BloomModel(path: path)
        let context = try InferenceContext(model: model, pool: try ThreadPool(threads: 1), capacity: 16)
        XCTAssertThrowsError(try context.evaluate([1, 2, 3])) { error in
            let e = error as? BloomError
            XCTAssertEqual(e?.code, .invalidModel, "\(error)")
            XCTAssertEqual(e?.path, path)
            XCTAssertEqual(e?.location, "tensor '\(target)'", "\(error)")
        }
        // The untouched file evaluates.
        let clean = try InferenceContext(model: try BloomModel(path: source), pool: try ThreadPool(threads: 1),
                                         capacity: 16)
        XCTAssertNoThrow(try clean.evaluate([1, 2, 3]))
    }

    func testATemplateWithoutItsPlaceholderIsRefused() throws {
        let broken = try GGUFMetadata([(BloomGGUFKeys.promptTemplateNoInput, .string("### Response:"))])
        XCTAssertThrowsError(try PromptTemplate(metadata: broken)) { error in
            XCTAssertEqual((error as? BloomError)?.location, BloomGGUFKeys.promptTemplateNoInput, "\(error)")
            XCTAssertTrue("\(error)".contains("{instruction}"), "\(error)")
        }
        let noInput = try GGUFMetadata([(BloomGGUFKeys.promptTemplateWithInput, .string("{instruction} only"))])
        XCTAssertThrowsError(try PromptTemplate(metadata: noInput)) {
            XCTAssertTrue("\($0)".contains("{input}"), "\($0)")
        }
        let fallback = try PromptTemplate(metadata: GGUFMetadata())
        XCTAssertEqual(fallback, PromptTemplate.stanfordAlpaca)
        XCTAssertEqual(fallback.noInput, AlpacaTemplate.noInput)
    }

    /// Tokenizer errors found when a model is loaded name the model file (they come from its metadata).
    /// A tensor of a type the runtime cannot compute with (a norm in F16) is refused naming the GGUF and the tensor.
    func testATensorOfTheWrongTypeNamesTheFile() throws {
        let source = try HostileModelTests.fuzzFile("corpus/fuzz-gguf/tiny-bloom.gguf")
        let file = try GGUFFile(path: source)
        let folder = try TempDir("wrong-type")
        let path = folder.path + "/f16-norm.gguf"
        let norm = "output_norm.weight"
        let infos = try file.tensors.map { t in
            t.name == norm ? try GGUFTensorInfo(name: t.name, type: .F16, ne: t.info.ne) : t.info
        }
        let writer = try GGUFWriter(path: path, metadata: file.metadata, tensors: infos)
        for t in file.tensors {
            let half = UnsafeRawBufferPointer(rebasing: t.bytes.prefix(t.bytes.count / 2))  // F32 → F16: half the bytes
            try writer.write(tensorNamed: t.name, t.name == norm ? half : t.bytes)
        }
        try writer.commit()
        XCTAssertThrowsError(try BloomModel(path: path)) { error in
            XCTAssertEqual((error as? BloomError)?.path, path, "\(error)")
            XCTAssertTrue("\(error)".contains(norm) && "\(error)".contains("f16"), "\(error)")
        }
    }

    func testTokenizerErrorsOfAModelNameItsFile() throws {
        let source = try HostileModelTests.fuzzFile("corpus/fuzz-gguf/tiny-bloom.gguf")
        let file = try GGUFFile(path: source)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bloomkit-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tokenCount = try file.metadata.stringArray(BloomGGUFKeys.tokens).count
        let edits: [(String, GGUFValue, String)] = [
            (BloomGGUFKeys.tokenType, .array(.int32([1, 1])), "2 token types"),
            (BloomGGUFKeys.eosTokenID, .uint32(UInt32(tokenCount + 7)), BloomGGUFKeys.eosTokenID),
        ]
        for (k, (key, value, mention)) in edits.enumerated() {
            var metadata = file.metadata
            metadata.set(key, value)
            let path = folder.appendingPathComponent("t\(k).gguf").path
            let writer = try GGUFWriter(path: path, metadata: metadata, tensors: file.tensors.map(\.info))
            for t in file.tensors { try writer.write(tensorNamed: t.name, t.bytes) }
            try writer.commit()
            XCTAssertThrowsError(try BloomModel(path: path).loadTokenizer(), key) { error in
                XCTAssertEqual((error as? BloomError)?.path, path, "\(error)")
                XCTAssertTrue("\(error)".contains(mention), "\(error)")
            }
        }
    }
}
