@testable import BloomGGUF
import BloomCore
import Foundation
import TestSupport
import XCTest

/// Writer → reader round trips: every value type, typed getters, tensor layout and padding, chunked streaming,
/// checksums, and the writer's refusals.
final class GGUFRoundTripTests: XCTestCase {
    var tmp: TempDir!
    override func setUpWithError() throws { tmp = try TempDir("gguf-tests") }
    override func tearDown() { tmp = nil }

    static func allTypesMetadata() throws -> GGUFMetadata {
        try GGUFMetadata([
            ("general.architecture", .string("bloom")),
            ("t.u8", .uint8(255)), ("t.i8", .int8(-128)), ("t.u16", .uint16(65535)), ("t.i16", .int16(-32768)),
            ("t.u32", .uint32(.max)), ("t.i32", .int32(.min)), ("t.f32", .float32(-0.1)), ("t.bool", .bool(true)),
            ("t.string", .string("héllo ✓")), ("t.empty", .string("")), ("t.u64", .uint64(.max)),
            ("t.i64", .int64(.min)),
            ("t.f64", .float64(.pi)),
            ("a.u8", .array(.uint8([0, 255]))), ("a.i8", .array(.int8([-1]))), ("a.u16", .array(.uint16([1, 2]))),
            ("a.i16", .array(.int16([-2]))), ("a.u32", .array(.uint32([7]))), ("a.i32", .array(.int32([-7, 7]))),
            ("a.f32", .array(.float32([1.5, -0]))), ("a.bool", .array(.bool([true, false]))),
            ("a.string", .array(.string(["a", "", "Ġb"]))), ("a.u64", .array(.uint64([.max]))),
            ("a.i64", .array(.int64([.min]))), ("a.f64", .array(.float64([2.5]))), ("a.empty", .array(.int32([]))),
        ])
    }

    func testRoundTripAllValueTypesAndTensors() throws {
        let metadata = try Self.allTypesMetadata()
        let infos = try [
            GGUFTensorInfo(name: "a", type: .F32, ne: [3, 2]),
            GGUFTensorInfo(name: "empty", type: .F16, ne: [0, 4]),
            GGUFTensorInfo(name: "q", type: .Q8_0, ne: [64, 3]),
            GGUFTensorInfo(name: "v", type: .F16, ne: [5]),
            GGUFTensorInfo(name: String(repeating: "n", count: 63), type: .BF16, ne: [1, 1, 1, 3]),
        ]
        let path = tmp.url.appendingPathComponent("rt.gguf").path
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: infos, checksumKey: "x.checksums")
        var payloads: [[UInt8]] = []
        for (k, t) in writer.tensors.enumerated() {
            let bytes = (0..<t.byteCount).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ k) }
            payloads.append(bytes)
            // Stream in uneven chunks.
            var i = 0
            try bytes.withUnsafeBytes { p in
                while i < bytes.count {
                    let j = min(bytes.count, i + 13)
                    try writer.write(UnsafeRawBufferPointer(rebasing: p[i..<j]))
                    i = j
                }
            }
        }
        XCTAssertNil(writer.currentTensor)
        try writer.commit()

        let file = try GGUFFile(path: path)
        var expected = metadata
        try expected.append("x.checksums", .array(.uint64(payloads.map { $0.withUnsafeBytes { XXHash64.hash($0) } })))
        XCTAssertEqual(file.metadata, expected)
        XCTAssertEqual(file.alignment, 32)
        XCTAssertEqual(file.dataOffset % 32, 0)
        XCTAssertEqual(file.tensors.map(\.info), writer.tensors)
        XCTAssertEqual(file.tensors.map(\.info.offset), [0, 32, 32, 32 + 224, 256 + 32])
        for (t, p) in zip(file.tensors, payloads) {
            XCTAssertEqual(Array(file.data(of: t)), p, t.name)
            XCTAssertEqual(t.fileOffset % 32, 0)
        }
        XCTAssertEqual(file.file.count, file.dataOffset + 256 + 32 + 32, "the last tensor is padded too")
        XCTAssertEqual(file.tensor(named: "q")?.shape, [3, 64])
        XCTAssertNil(file.tensor(named: "nope"))
        assertBloomError(.ggufMissingTensor) { try file.requireTensor(named: "nope") }
        XCTAssertEqual(writer.checksums, try file.metadata.uint64Array("x.checksums"))
    }

    func testCustomAlignment() throws {
        var metadata = GGUFMetadata()
        metadata.set("general.alignment", .uint32(64))
        let path = tmp.url.appendingPathComponent("a64.gguf").path
        let writer = try GGUFWriter(path: path, metadata: metadata,
                                    tensors: [GGUFTensorInfo(name: "a", type: .F32, ne: [3]),
                                              GGUFTensorInfo(name: "b", type: .F32, ne: [20])])
        try writer.write([UInt8](repeating: 1, count: 12))
        try writer.write([UInt8](repeating: 2, count: 80))
        try writer.commit()
        let file = try GGUFFile(path: path)
        XCTAssertEqual(file.alignment, 64)
        XCTAssertEqual(file.dataOffset % 64, 0)
        XCTAssertEqual(file.tensors.map(\.info.offset), [0, 64])
        XCTAssertEqual(file.file.count, file.dataOffset + 64 + 128)
    }

    func testTypedGettersNameTheTypes() throws {
        let m = try Self.allTypesMetadata()
        XCTAssertEqual(try m.uint32("t.u32"), .max)
        XCTAssertEqual(try m.float32("t.f32"), -0.1)
        XCTAssertEqual(try m.bool("t.bool"), true)
        XCTAssertEqual(try m.string("t.string"), "héllo ✓")
        XCTAssertEqual(try m.stringArray("a.string"), ["a", "", "Ġb"])
        XCTAssertEqual(try m.int32Array("a.i32"), [-7, 7])
        let message = assertBloomError(.ggufWrongType) { try m.uint32("t.i32") }?.description
        XCTAssertEqual(message, "key 't.i32' has type INT32, expected UINT32")
        XCTAssertEqual(assertBloomError(.ggufWrongType) { try m.stringArray("a.i32") }?.description,
                       "key 'a.i32' has type ARRAY[INT32], expected ARRAY[STRING]")
        assertBloomError(.ggufMissingKey) { try m.uint32("absent") }
        XCTAssertNil(try m.optional("absent", GGUFMetadata.uint32))
        assertBloomError(.ggufWrongType) { try m.optional("t.u8", GGUFMetadata.uint32) }
        var copy = m
        assertBloomError(.ggufDuplicateKey) { try copy.append("t.u8", .uint8(1)) }
    }

    func testWriterRefusesWrongByteCounts() throws {
        let infos = try [GGUFTensorInfo(name: "a", type: .F32, ne: [2]), GGUFTensorInfo(name: "b", type: .F32, ne: [1])]
        let path = tmp.url.appendingPathComponent("bad.gguf").path
        let writer = try GGUFWriter(path: path, metadata: GGUFMetadata(), tensors: infos)
        assertBloomError(.ggufWriteMismatch) { try writer.write([UInt8](repeating: 0, count: 9)) }
        assertBloomError(.ggufWriteMismatch) {
            try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try writer.write(tensorNamed: "b", $0) }
        }
        try writer.write([UInt8](repeating: 0, count: 8))
        assertBloomError(.ggufWriteMismatch) { try writer.commit() }
        try writer.write([UInt8](repeating: 0, count: 4))
        assertBloomError(.ggufWriteMismatch) { try writer.write([UInt8](repeating: 0, count: 1)) }
        try writer.commit()
        XCTAssertNoThrow(try GGUFFile(path: path))
    }

    func testWriterLeavesNothingOnAbort() throws {
        let path = tmp.url.appendingPathComponent("aborted.gguf").path
        do {
            let writer = try GGUFWriter(path: path, metadata: GGUFMetadata(),
                                        tensors: [GGUFTensorInfo(name: "a", type: .F32, ne: [2])])
            try writer.write([UInt8](repeating: 0, count: 4))
            writer.abort()
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [])
    }

    func testDeclarationsAreValidated() throws {
        assertBloomError(.ggufNameTooLong) {
            try GGUFTensorInfo(name: String(repeating: "x", count: 64), type: .F32, ne: [1])
        }
        assertBloomError(.ggufTooManyDims) { try GGUFTensorInfo(name: "x", type: .F32, ne: [1, 1, 1, 1, 1]) }
        assertBloomError(.ggufBadShape) { try GGUFTensorInfo(name: "x", type: .Q4_0, ne: [48, 2]) }
        assertBloomError(.ggufBadShape) { try GGUFTensorInfo(name: "x", type: .F32, ne: [-1]) }
        assertBloomError(.ggufBadShape) { try GGUFTensorInfo(name: "x", type: .F32, ne: [1 << 40, 1 << 40]) }
        let a = try GGUFTensorInfo(name: "dup", type: .F32, ne: [1])
        assertBloomError(.ggufDuplicateTensor) {
            try GGUFWriter(path: self.tmp.file("d.gguf"), metadata: GGUFMetadata(), tensors: [a, a])
        }
        var m = GGUFMetadata()
        m.set("general.alignment", .uint32(24))
        assertBloomError(.ggufBadAlignment) {
            try GGUFWriter(path: self.tmp.file("al.gguf"), metadata: m, tensors: [])
        }
    }
}

extension GGUFWriter {
    /// Test convenience: writes an array of bytes.
    func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
}
