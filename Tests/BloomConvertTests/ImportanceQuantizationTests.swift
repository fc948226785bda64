import BloomArch
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

    /// llama-quantize's runs: the legacy types with --pure, the K types as their own mixes.
    static let runs: [(type: FileType, pure: Bool)] = [
        (.Q4_0, true), (.Q4_1, true), (.Q5_0, true), (.Q5_1, true), (.Q2_K, false), (.Q3_K_S, false),
        (.Q3_K_M, false), (.Q3_K_L, false), (.Q4_K_S, false), (.Q4_K_M, false), (.Q5_K_S, false), (.Q5_K_M, false),
        (.Q6_K, false),
    ]

    private func options(_ run: (type: FileType, pure: Bool)) throws -> ConvertOptions {
        var options = ConvertOptions()
        options.type = run.type
        options.overrides.pure = run.pure
        options.imatrix = (Self.imatrixLabel, try matrix())
        return options
    }

    /// Each tensor of `file` against llama-quantize's (those of `checked` types only); returns how many.
    private func assertTensors(_ file: GGUFFile, _ type: String, checked: (String) -> Bool = { _ in true },
                               _ label: String) throws -> Int {
        var count = 0
        for (tensor, e) in try expected(type) where tensor != "_keys" && checked(e["type"]?.string ?? "") {
            let t = try file.requireTensor(named: tensor)
            XCTAssertEqual(t.type.name.uppercased(), e["type"]?.string, "\(label) \(tensor)")
            XCTAssertEqual(SHA256.hex(t.bytes), e["sha256"]?.string, "\(label) \(tensor)")
            count += 1
        }
        return count
    }

    /// `quantize [--pure] --imatrix`: every tensor, general.file_type and the quantize.imatrix.* keys as
    /// llama-quantize writes them.
    func testQuantizeWithImatrixEqualsLlamaQuantize() throws {
        let input = try f16File()
        XCTAssertEqual(Set(try Fixtures.json("expected/imatrix/quantized-sha256.json")["types"]?.object?.map(\.0)
                           ?? []), Set(Self.runs.map(\.type.name)))
        for run in Self.runs {
            let name = run.type.name
            let out = scratch.file("\(name).gguf")
            _ = try GGUFQuantizer.quantize(input: input, output: out, options: try options(run), allowRequantize: false)
            let file = try GGUFFile(path: out)
            XCTAssertEqual(try assertTensors(file, name, "quantize \(name)"), file.tensors.count)
            let keys = try XCTUnwrap(try expected(name).first { $0.0 == "_keys" }?.1)
            XCTAssertEqual(file.metadata[ImportanceKeys.file],
                           keys["quantize.imatrix.file"]?.string.map { .string($0) })
            XCTAssertEqual(file.metadata[ImportanceKeys.dataset],
                           keys["quantize.imatrix.dataset"]?.string.map { .string($0) })
            XCTAssertEqual(file.metadata[ImportanceKeys.entriesCount]?.integer,
                           keys["quantize.imatrix.entries_count"]?.int)
            XCTAssertEqual(file.metadata[ImportanceKeys.chunksCount]?.integer,
                           keys["quantize.imatrix.chunks_count"]?.int)
            XCTAssertEqual(Int(try file.metadata.uint32(BloomGGUFKeys.fileType)), keys["general.file_type"]?.int)
        }
    }

    /// `convert --imatrix` straight from the f16 checkpoint (the same weights as the F16 file llama-quantize read):
    /// every quantized tensor. The F32 ones are left out: two QKV biases of tiny-b's f16 checkpoint differ from its
    /// f32 one's in the last bit.
    func testConvertWithImatrixEqualsLlamaQuantize() throws {
        let input = try ConvertInput(folder: try Fixtures.path("models/tiny-b/st-f16"))
        for run in Self.runs {
            let out = scratch.file("convert-\(run.type.name).gguf")
            _ = try Converter.convert(input, to: out, options: try options(run))
            let file = try GGUFFile(path: out)
            let n = try assertTensors(file, run.type.name, checked: { $0 != "F32" }, "convert \(run.type.name)")
            XCTAssertEqual(n, file.tensors.filter { $0.type != .F32 }.count)
            XCTAssertNotNil(file.metadata[ImportanceKeys.file])
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
        // Two blocks of padding, and whole blocks read in place (an array, and raw bytes as tensors give them).
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(SHA256.hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        million.withUnsafeBytes {
            XCTAssertEqual(SHA256.hex($0), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        }
    }
}
