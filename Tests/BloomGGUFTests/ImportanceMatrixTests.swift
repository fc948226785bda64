import BloomCore
import Foundation
import TestSupport
import XCTest
@testable import BloomGGUF

/// llama.cpp's importance-matrix files, read and written (Tests/Fixtures/expected/imatrix, from llama-imatrix by
/// Tests/Fixtures/generate_imatrix.sh: tiny-b F16 on the held-out text, n_ctx 64).
final class ImportanceMatrixTests: XCTestCase {
    static let names = (0..<3).flatMap { l in
        ["attn_output", "attn_qkv", "ffn_down", "ffn_up"].map { "blk.\(l).\($0).weight" }
    }.sorted()

    func testLlamaImatrixGGUFIsRead() throws {
        let m = try ImportanceMatrix(path: try Fixtures.path("expected/imatrix/tiny-b-c64.gguf"))
        XCTAssertFalse(m.isLegacy)
        XCTAssertEqual(m.entries.keys.sorted(), Self.names)
        XCTAssertEqual(m.chunkCount, 38)
        XCTAssertEqual(m.chunkSize, 64)
        XCTAssertEqual(m.datasets, ["Tests/Fixtures/expected/perplexity/heldout.txt"])
        for (name, e) in m.entries {
            XCTAssertEqual(e.count, 38 * 64, name)
            XCTAssertEqual(e.sums.count, name.contains("ffn_down") ? 384 : 96, name)
            XCTAssertTrue(e.sums.allSatisfy { $0 > 0 && $0.isFinite }, name)
        }
    }

    /// The legacy file holds (sum / count) · ncall and ncall; both forms give llama-quantize the same importance.
    func testLegacyDatGivesTheSameImportanceAsGGUF() throws {
        let gguf = try ImportanceMatrix(path: try Fixtures.path("expected/imatrix/tiny-b-c64.gguf"))
        let dat = try ImportanceMatrix(path: try Fixtures.path("expected/imatrix/tiny-b-c64.dat"))
        XCTAssertTrue(dat.isLegacy)
        XCTAssertEqual(dat.entries.keys.sorted(), Self.names)
        XCTAssertEqual(dat.chunkCount, 38)
        XCTAssertEqual(dat.datasets, gguf.datasets)
        for name in Self.names {
            XCTAssertEqual(dat.entries[name]?.count, 38, "ncall of \(name)")
            let a = try XCTUnwrap(gguf.importance(of: name)), b = try XCTUnwrap(dat.importance(of: name))
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: y * 1e-6, name) }
        }
        XCTAssertNil(gguf.importance(of: "output.weight"))
    }

    /// Written back, llama-imatrix's own matrix is its file byte for byte (keys, order, shapes, alignment).
    func testWritingReproducesLlamaImatrixBytes() throws {
        for file in ["tiny-b-c64.gguf", "tiny-b-c64-chunks4.gguf"] {
            let path = try Fixtures.path("expected/imatrix/" + file)
            let m = try ImportanceMatrix(path: path)
            let folder = try TempDir("imatrix")
            let out = folder.file("copy.gguf")
            try m.write(to: out)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)),
                           try Data(contentsOf: URL(fileURLWithPath: path)),
                           file)
            XCTAssertEqual(try ImportanceMatrix(path: out), m)
        }
    }

    func testBrokenFilesAreRefused() throws {
        let folder = try TempDir("imatrix-hostile")
        let dat = try Fixtures.bytes("expected/imatrix/tiny-b-c64.dat")
        func le(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let cases: [(String, [UInt8], BloomError.Code)] = [
            ("empty", [], .truncated),
            ("no entries", le(0), .invalidArgument),
            ("cut in a name", Array(dat.prefix(10)), .truncated),
            ("cut in the values", Array(dat.prefix(200)), .truncated),
            ("huge name", le(1) + le(Int32.max), .invalidArgument),
            ("huge values", le(1) + le(1) + [UInt8](repeating: 0x61, count: 1) + le(1) + le(Int32.max),
             .invalidArgument),
        ]
        for (name, bytes, code) in cases {
            let path = try folder.write(name, bytes)
            let e = assertBloomError(code, name) { try ImportanceMatrix(path: path) }
            XCTAssertEqual(e?.path, path, name)
        }
        // A GGUF file that is not an importance matrix (no imatrix.* keys).
        let model = try Fixtures.path("expected/gguf/sample.gguf")
        assertBloomError(.invalidArgument) { try ImportanceMatrix(path: model) }
    }
}
