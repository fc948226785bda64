import BloomCore
import BloomGGUF
import BloomQuant
import Foundation
import TestSupport
import XCTest
@testable import BloomConvert

/// Importance-weighted quantization against llama-quantize --pure --imatrix on the same F16 file and imatrix
/// (Tests/Fixtures/expected/imatrix/quantized-sha256.json, made by generate_imatrix.sh): every tensor's bytes.
final class ImportanceQuantizationTests: XCTestCase {
    static let imatrixLabel = "Tests/Fixtures/expected/imatrix/tiny-b-c64.gguf"  // as llama-quantize was given it

    private var scratch: TempDir!
    override func setUpWithError() throws { scratch = try TempDir("imatrix-quant") }
    override func tearDown() { scratch = nil }

    private func f16File() throws -> String {
        let out = scratch.file("tiny-b-f16.gguf")
        var options = ConvertOptions()
        options.type = .F16
        _ = try Converter.convert(try ConvertInput(folder: try Fixtures.path("models/tiny-b/bin-f32-lmhead")), to: out,
                                  options: options)
        return out
    }

    private func expected(_ type: String) throws -> [(String, JSONValue)] {
        try XCTUnwrap(try Fixtures.json("expected/imatrix/quantized-sha256.json")["types"]?[type]?.object, type)
    }

    private func matrix() throws -> ImportanceMatrix {
        try ImportanceMatrix(path: try Fixtures.path("expected/imatrix/tiny-b-c64.gguf"))
    }

    /// `quantize --pure --imatrix`: every tensor and the quantize.imatrix.* keys as llama-quantize writes them.
    func testQuantizeWithImatrixEqualsLlamaQuantize() throws {
        let input = try f16File()
        for (type, name) in [(FileType.Q4_0, "Q4_0"), (.Q4_1, "Q4_1"), (.Q5_0, "Q5_0"), (.Q5_1, "Q5_1")] {
            var options = ConvertOptions()
            options.type = type
            options.overrides.pure = true
            options.imatrix = (Self.imatrixLabel, try matrix())
            let out = scratch.file("\(name).gguf")
            _ = try GGUFQuantizer.quantize(input: input, output: out, options: options, allowRequantize: false)
            let file = try GGUFFile(path: out)
            var checked = 0
            for (tensor, e) in try expected(name) where tensor != "_keys" {
                let t = try file.requireTensor(named: tensor)
                XCTAssertEqual(t.type.name.uppercased(), e["type"]?.string, tensor)
                XCTAssertEqual(SHA256.hex(t.bytes), e["sha256"]?.string, "\(name) \(tensor)")
                checked += 1
            }
            XCTAssertEqual(checked, file.tensors.count)
            let keys = try XCTUnwrap(try expected(name).first { $0.0 == "_keys" }?.1)
            XCTAssertEqual(file.metadata[ImportanceKeys.file],
                           keys["quantize.imatrix.file"]?.string.map { .string($0) })
            XCTAssertEqual(file.metadata[ImportanceKeys.dataset],
                           keys["quantize.imatrix.dataset"]?.string.map { .string($0) })
            XCTAssertEqual(file.metadata[ImportanceKeys.entriesCount]?.integer,
                           keys["quantize.imatrix.entries_count"]?.int)
            XCTAssertEqual(file.metadata[ImportanceKeys.chunksCount]?.integer,
                           keys["quantize.imatrix.chunks_count"]?.int)
        }
    }

    func testImportanceOfTheWrongWidthIsRefusedAndUnweightedTypesIgnoreIt() throws {
        let source = SourceTensor(name: "w", dtype: .F32, shape: [2, 256]) { _, count, dst in
            for i in 0..<(count * 256) { dst[i] = Float(i % 7) - 3 }
        }
        assertBloomError(.quantShape) {
            try Quantizer.quantize(.Q4_0, tensor: source, importance: [Float](repeating: 1, count: 64)) { _ in }
        }
        assertBloomError(.quantShape) {
            try Quantizer.quantize(.Q4_K, tensor: source, importance: [Float](repeating: 1, count: 255)) { _ in }
        }
        // Types an importance matrix does not change in ggml ignore it.
        var plain: [UInt8] = [], weighted: [UInt8] = []
        try Quantizer.quantize(.Q8_0, tensor: source) { plain += $0 }
        try Quantizer.quantize(.Q8_0, tensor: source, importance: [Float](repeating: 2, count: 256)) { weighted += $0 }
        XCTAssertEqual(plain, weighted)
        XCTAssertFalse(Quantizer.usesImportance(.Q8_0))
        XCTAssertTrue([GGMLType.Q2_K, .Q3_K, .Q4_K, .Q5_K, .Q6_K].allSatisfy(Quantizer.usesImportance))
    }

    func testSHA256MatchesFIPSVectors() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}
