import BloomArch
import BloomCore
@testable import BloomConvert
import BloomGGUF
import Foundation
import TestSupport
import XCTest

/// verify catches a flipped byte in any tensor, a truncated file, trailing bytes and a broken profile;
/// quantize keeps values and metadata.
final class VerifyTests: XCTestCase {
    var tmp: TempDir!
    var path: String!
    override func setUpWithError() throws {
        tmp = try TempDir("convert-tests")
        path = tmp.file("m.gguf")
        var options = ConvertOptions()
        options.type = .F16
        _ = try Converter.convert(try ConvertFixtures.input().0, to: path, options: options)
    }
    override func tearDown() { tmp = nil }

    func testCleanFilePasses() throws {
        let report = try GGUFVerifier.verify(path: path)
        XCTAssertEqual(report.checkedChecksums, report.tensorCount)
        XCTAssertTrue(report.isBloom)
    }

    func testFlippedByteInEveryTensorIsCaught() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let file = try GGUFFile(path: path)
        for t in file.tensors {
            for offset in [t.fileOffset, t.fileOffset + t.byteCount / 2, t.fileOffset + t.byteCount - 1] {
                var bytes = original
                bytes[offset] ^= 0x10
                let flipped = tmp.url.appendingPathComponent("flip.gguf")
                try bytes.write(to: flipped)
                let message = assertBloomError(.verifyChecksum) {
                    try GGUFVerifier.verify(path: flipped.path)
                }?.description
                XCTAssertTrue(message?.contains("'\(t.name)'") ?? false, message ?? "")
            }
        }
    }

    func testTruncationAndTrailingBytesAreCaught() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = tmp.url.appendingPathComponent("cut.gguf")
        let last = try XCTUnwrap(GGUFFile(path: path).tensors.last)
        try original.prefix(original.count - 1).write(to: cut)
        // One byte less: of the last tensor's padding if it has some (the data is intact), else of its data.
        assertBloomError(last.fileOffset + last.byteCount < original.count ? .verifySize : .ggufDataPastEnd) {
            try GGUFVerifier.verify(path: cut.path)
        }
        try original.prefix(original.count - 100).write(to: cut)
        assertBloomError(.ggufDataPastEnd) { try GGUFVerifier.verify(path: cut.path) }
        try original.prefix(original.count / 3).write(to: cut)
        assertBloomError(.ggufDataPastEnd) { try GGUFVerifier.verify(path: cut.path) }
        try (original + Data([0])).write(to: cut)
        assertBloomError(.verifySize) { try GGUFVerifier.verify(path: cut.path) }
    }

    func testProfileAndMissingChecksums() throws {
        let file = try GGUFFile(path: path)
        // Same tensors, metadata without checksums.
        var metadata = file.metadata
        metadata.remove(BloomGGUFKeys.tensorChecksums)
        let bare = tmp.file("bare.gguf")
        try rewrite(file, metadata: metadata, to: bare)
        assertBloomError(.verifyNoChecksums) { try GGUFVerifier.verify(path: bare) }
        XCTAssertEqual(try GGUFVerifier.verify(path: bare, requireChecksums: false).checkedChecksums, 0)
        // A key with the wrong type for llama.cpp.
        metadata.set(BloomGGUFKeys.blockCount, .int32(2))
        let wrong = tmp.file("wrong.gguf")
        try rewrite(file, metadata: metadata, to: wrong)
        assertBloomError(.verifyProfile) { try GGUFVerifier.verify(path: wrong, requireChecksums: false) }
    }

    func testQuantizeToF32KeepsValuesAndMetadata() throws {
        var options = ConvertOptions()
        options.type = .F32
        let out = tmp.file("f32.gguf")
        let report = try GGUFQuantizer.quantize(input: path, output: out, options: options, allowRequantize: false)
        let a = try GGUFFile(path: path), b = try GGUFFile(path: out)
        XCTAssertEqual(report.tensors.count, a.tensors.count)
        XCTAssertEqual(try b.metadata.uint32(BloomGGUFKeys.fileType), 0)
        XCTAssertEqual(a.metadata.keys, b.metadata.keys.filter { a.metadata.contains($0) })
        for (x, y) in zip(a.tensors, b.tensors) {
            XCTAssertEqual(y.type, .F32)
            XCTAssertEqual(try ConvertFixtures.floats(x), try ConvertFixtures.floats(y), x.name)
        }
        XCTAssertNoThrow(try GGUFVerifier.verify(path: out))
        // And back to F16: byte-identical tensors to the original.
        options.type = .F16
        let back = tmp.file("f16.gguf")
        _ = try GGUFQuantizer.quantize(input: out, output: back, options: options, allowRequantize: false)
        let c = try GGUFFile(path: back)
        for (x, z) in zip(a.tensors, c.tensors) { XCTAssertEqual(Array(x.bytes), Array(z.bytes), x.name) }
    }

    private func rewrite(_ file: GGUFFile, metadata: GGUFMetadata, to path: String) throws {
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: file.tensors.map(\.info))
        for t in file.tensors { try writer.write(tensorNamed: t.name, t.bytes) }
        try writer.commit()
    }

    /// quantize of an F32 file gives the same bytes as convert straight to the type; quantized sources need the flag.
    func testQuantizeMatchesConvertAndRefusesRequantizing() throws {
        let (input, _) = try ConvertFixtures.input()
        var options = ConvertOptions()
        options.type = .F32
        let f32 = tmp.file("src-f32.gguf")
        _ = try Converter.convert(input, to: f32, options: options)
        for type in [FileType.Q8_0, .Q4_0, .Q4_1] {
            options.type = type
            let direct = tmp.file("direct.gguf")
            let viaQuantize = tmp.file("quantized.gguf")
            _ = try Converter.convert(input, to: direct, options: options)
            _ = try GGUFQuantizer.quantize(input: f32, output: viaQuantize, options: options, allowRequantize: false)
            let a = try GGUFFile(path: direct), b = try GGUFFile(path: viaQuantize)
            XCTAssertEqual(a.tensors.map(\.info), b.tensors.map(\.info))
            for (x, y) in zip(a.tensors, b.tensors) { XCTAssertEqual(Array(x.bytes), Array(y.bytes), "\(type.name) \(x.name)") }
            XCTAssertEqual(a.tensor(named: "token_embd.weight")?.type, .Q8_0,
                           "the tied head: q6_k, which 64 columns turn into q8_0")
            XCTAssertEqual(a.tensor(named: "blk.0.attn_qkv.weight")?.type, type.baseType)
            XCTAssertEqual(a.tensor(named: "blk.0.attn_qkv.bias")?.type, .F32)
            XCTAssertEqual(try a.metadata.uint32(BloomGGUFKeys.fileType), type.number)
            XCTAssertNoThrow(try GGUFVerifier.verify(path: viaQuantize))
            options.type = .Q4_0
            let again = tmp.file("again.gguf")
            if type != .Q4_0 {
                assertBloomError(.invalidArgument) {
                    try GGUFQuantizer.quantize(input: direct, output: again, options: options, allowRequantize: false)
                }
                XCTAssertNoThrow(try GGUFQuantizer.quantize(input: direct, output: again, options: options, allowRequantize: true))
                XCTAssertEqual(try GGUFFile(path: again).tensor(named: "blk.1.ffn_up.weight")?.type, .Q4_0)
            }
        }
    }
}
