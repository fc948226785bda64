import BloomCore
import BloomGGUF
import Foundation
import TestSupport
import XCTest

/// The malformed-GGUF matrix: one hand-made file per way a header can lie, each refused with its own code
/// before anything is allocated or read out of bounds.
final class GGUFMalformedTests: XCTestCase {
    var tmp: TempDir!
    override func setUpWithError() throws { tmp = try TempDir("gguf-tests") }
    override func tearDown() { tmp = nil }

    /// One KV record.
    struct KV {
        var key: String
        var body: (inout ByteBuilder) -> Void
        static func u32(_ key: String, _ v: UInt32) -> KV { KV(key: key) { $0.u32(4); $0.u32(v) } }
    }

    /// One tensor-info record.
    struct Info {
        var name: String
        var ne: [Int64]
        var type: UInt32 = 0
        var offset: UInt64
        var nDims: UInt32? = nil
    }

    /// A GGUF file from parts; every default is valid (two F32 tensors of 3 and 5 elements).
    func make(magic: [UInt8] = Array("GGUF".utf8), version: UInt32 = 3, tensorCount: UInt64? = nil,
              kvCount: UInt64? = nil,
              kvs: [KV] = [KV.u32("x.n", 1)],
              infos: [Info] = [Info(name: "a", ne: [3], offset: 0), Info(name: "b", ne: [5], offset: 32)],
              alignment: Int = 32, dataBytes: Int? = nil) -> [UInt8] {
        var b = ByteBuilder()
        b.raw(magic)
        b.u32(version)
        b.u64(tensorCount ?? UInt64(infos.count))
        b.u64(kvCount ?? UInt64(kvs.count))
        for kv in kvs { b.str(kv.key); kv.body(&b) }
        for t in infos {
            b.str(t.name)
            b.u32(t.nDims ?? UInt32(t.ne.count))
            for d in t.ne { b.i64(d) }
            b.u32(t.type)
            b.u64(t.offset)
        }
        b.pad(to: alignment)
        b.raw([UInt8](repeating: 0, count: dataBytes ?? 64))
        return b.bytes
    }

    @discardableResult
    func expect(_ code: BloomError.Code, _ bytes: [UInt8], line: UInt = #line) -> String? {
        let url = tmp.url.appendingPathComponent("f\(line).gguf")
        XCTAssertNoThrow(try Data(bytes).write(to: url))
        return assertBloomError(code, line: line) { try GGUFFile(path: url.path) }?.description
    }

    func testTheValidBaseFileReads() throws {
        let url = tmp.url.appendingPathComponent("ok.gguf")
        try Data(make()).write(to: url)
        let f = try GGUFFile(path: url.path)
        XCTAssertEqual(f.tensors.map(\.name), ["a", "b"])
        XCTAssertEqual(try f.metadata.uint32("x.n"), 1)
    }

    func testMagicAndVersion() {
        expect(.ggufBadMagic, make(magic: Array("GGUX".utf8)))
        expect(.ggufBadMagic, [0x47, 0x47])
        expect(.ggufBadMagic, [])
        expect(.ggufBadVersion, make(version: 1))
        expect(.ggufBadVersion, make(version: 4))
        let message = expect(.ggufBadVersion, make(version: 0x0300_0000))
        XCTAssertTrue(message?.contains("big-endian") ?? false)
    }

    func testCountsPastTheEnd() {
        expect(.ggufCountPastEnd, make(tensorCount: 1 << 40))
        expect(.ggufCountPastEnd, make(tensorCount: .max))
        expect(.ggufCountPastEnd, make(kvCount: 1 << 50))
        expect(.ggufCountPastEnd, make(kvs: [KV(key: "arr") { $0.u32(9); $0.u32(5); $0.u64(1 << 61) }]))
        expect(.ggufCountPastEnd, make(kvs: [KV(key: "strs") { $0.u32(9); $0.u32(8); $0.u64(1 << 20) }]))
    }

    func testStringsPastTheEnd() {
        var b = ByteBuilder()
        b.raw(Array("GGUF".utf8)); b.u32(3); b.u64(0); b.u64(1); b.u64(1 << 62); b.raw([UInt8](repeating: 0, count: 16))
        expect(.ggufStringPastEnd, b.bytes)
        expect(.ggufStringPastEnd, make(kvs: [KV(key: "s") { $0.u32(8); $0.u64(UInt64.max) }]))
        expect(.ggufStringPastEnd, make(kvs: [KV(key: "s") { $0.u32(9); $0.u32(8); $0.u64(1); $0.u64(1 << 40) }]))
        expect(.ggufBadString, make(kvs: [KV(key: "s") { $0.u32(8); $0.u64(2); $0.raw([0xC3, 0x28]) }]))
    }

    func testValueTypes() {
        expect(.ggufBadValueType, make(kvs: [KV(key: "v") { $0.u32(13); $0.u32(0) }]))
        expect(.ggufBadValueType, make(kvs: [KV(key: "v") { $0.u32(9); $0.u32(77); $0.u64(0) }]))
        expect(.ggufNestedArray, make(kvs: [KV(key: "v") {
            $0.u32(9); $0.u32(9); $0.u64(1); $0.u32(4); $0.u64(1); $0.u32(1)
        }]))
        expect(.ggufBadValue, make(kvs: [KV(key: "v") { $0.u32(7); $0.u8(2) }]))
        expect(.ggufBadAlignment, make(kvs: [KV(key: "general.alignment") { $0.u32(5); $0.u32(32) }]))
        expect(.ggufBadAlignment, make(kvs: [KV.u32("general.alignment", 48)]))
        expect(.ggufBadAlignment, make(kvs: [KV.u32("general.alignment", 0)]))
    }

    func testDuplicates() {
        expect(.ggufDuplicateKey, make(kvs: [KV.u32("k", 1), KV.u32("k", 2)]))
        expect(.ggufDuplicateTensor, make(infos: [Info(name: "a", ne: [3], offset: 0),
                                                  Info(name: "a", ne: [5], offset: 32)]))
    }

    func testTensorInfos() {
        let long = String(repeating: "n", count: 64)
        expect(.ggufNameTooLong, make(infos: [Info(name: long, ne: [3], offset: 0)]))
        expect(.ggufTooManyDims, make(infos: [Info(name: "a", ne: [1, 1, 1, 1, 1], offset: 0)]))
        expect(.ggufTooManyDims, make(infos: [Info(name: "a", ne: [3], offset: 0, nDims: 1 << 30)]))
        expect(.ggufBadShape, make(infos: [Info(name: "a", ne: [-3], offset: 0)]))
        expect(.ggufBadShape, make(infos: [Info(name: "a", ne: [1 << 40, 1 << 40], offset: 0)]))
        expect(.ggufBadShape, make(infos: [Info(name: "a", ne: [48], type: 8,
                                                offset: 0)]))  // Q8_0 needs ne[0] % 32 == 0
        expect(.ggufBadTensorType, make(infos: [Info(name: "a", ne: [3], type: 4, offset: 0)]))  // removed Q4_2
        expect(.ggufBadTensorType, make(infos: [Info(name: "a", ne: [3], type: 1000, offset: 0)]))
    }

    func testOffsetsAndBounds() {
        // Misaligned, unpacked (a gap), overlapping, and past the end.
        expect(.ggufBadOffset, make(infos: [Info(name: "a", ne: [3], offset: 0), Info(name: "b", ne: [5], offset: 12)]))
        expect(.ggufBadOffset, make(infos: [Info(name: "a", ne: [3], offset: 0), Info(name: "b", ne: [5], offset: 64)]))
        expect(.ggufBadOffset, make(infos: [Info(name: "a", ne: [3], offset: 0), Info(name: "b", ne: [5], offset: 0)]))
        expect(.ggufBadOffset, make(infos: [Info(name: "a", ne: [3], offset: 32)]))
        expect(.ggufBadOffset, make(infos: [Info(name: "a", ne: [3], offset: .max)]))
        expect(.ggufDataPastEnd, make(dataBytes: 32 + 19))
        expect(.ggufDataPastEnd, make(infos: [Info(name: "a", ne: [1 << 30], offset: 0)]))
        // Truncated inside a fixed-size field (the last tensor's offset).
        let header = make(alignment: 1, dataBytes: 0)
        expect(.truncated, Array(header.dropLast(3)))
    }

    func testHeaderOnlyFileWithNoTensors() throws {
        let url = tmp.url.appendingPathComponent("empty.gguf")
        try Data(make(infos: [], dataBytes: 0)).write(to: url)
        XCTAssertEqual(try GGUFFile(path: url.path).tensors.count, 0)
    }
}
