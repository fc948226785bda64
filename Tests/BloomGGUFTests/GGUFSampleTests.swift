@testable import BloomGGUF
import BloomCore
import Foundation
import TestSupport
import XCTest

/// gguf-py-written files (Tests/Fixtures/expected/gguf, described in sample.json) read exactly, and written back
/// byte for byte by our writer.
final class GGUFSampleTests: XCTestCase {
    func testSampleFilesMatchGGUFPy() throws {
        let dir = try Fixtures.url("expected/gguf")
        let description = try Fixtures.json("expected/gguf/sample.json")
        let files = try XCTUnwrap(description["files"]?.array)
        XCTAssertEqual(files.count, 2)
        for expected in files {
            let name = try XCTUnwrap(expected["file"]?.string)
            let gguf = try GGUFFile(path: dir.appendingPathComponent(name).path)
            XCTAssertEqual(gguf.file.count, expected["size"]?.int, name)
            XCTAssertEqual(Int(gguf.version), expected["version"]?.int)
            XCTAssertEqual(gguf.alignment, expected["alignment"]?.int, name)
            XCTAssertEqual(gguf.dataOffset, expected["data_offset"]?.int, name)
            let kvs = try XCTUnwrap(expected["kv"]?.array)
            XCTAssertEqual(gguf.metadata.keys, kvs.compactMap { $0["key"]?.string }, name)
            for kv in kvs {
                let key = try XCTUnwrap(kv["key"]?.string)
                let value = try gguf.metadata.value(key)
                try assertEqual(value, kv, key)
            }
            let tensors = try XCTUnwrap(expected["tensors"]?.array)
            XCTAssertEqual(gguf.tensors.map(\.name), tensors.compactMap { $0["name"]?.string })
            for (t, e) in zip(gguf.tensors, tensors) {
                XCTAssertEqual(Int(t.type.rawValue), e["type_id"]?.int, t.name)
                XCTAssertEqual(t.ne, e["ne"]?.array?.compactMap(\.int), t.name)
                XCTAssertEqual(t.shape, Array((e["ne"]?.array?.compactMap(\.int) ?? []).reversed()))
                XCTAssertEqual(t.byteCount, e["nbytes"]?.int, t.name)
                XCTAssertEqual(t.elementCount, e["n_elements"]?.int, t.name)
                XCTAssertEqual(t.info.offset, e["offset"]?.int, t.name)
                XCTAssertEqual(t.fileOffset, e["data_offset"]?.int, t.name)
                if let values = e["values"]?.array {
                    let floats = try floats(of: t)
                    XCTAssertEqual(floats, values.compactMap { $0.double.map(Float.init) }, t.name)
                }
            }
        }
    }

    /// Our writer, given what our reader read, reproduces gguf-py's bytes exactly (header, padding, data).
    func testWriterReproducesGGUFPyBytes() throws {
        let dir = try Fixtures.url("expected/gguf")
        let tmp = try TempDir("gguf-tests")
        for name in ["sample.gguf", "sample-align64.gguf"] {
            let original = try GGUFFile(path: dir.appendingPathComponent(name).path)
            let out = tmp.file(name)
            let writer = try GGUFWriter(path: out, metadata: original.metadata, tensors: original.tensors.map(\.info))
            for t in original.tensors { try writer.write(tensorNamed: t.name, original.data(of: t)) }
            try writer.commit()
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)),
                           try Data(contentsOf: dir.appendingPathComponent(name)), name)
        }
    }

    private func floats(of t: GGUFTensor) throws -> [Float] {
        switch t.type {
        case .F32: return (0..<t.elementCount).map { t.bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        case .F16: return (0..<t.elementCount).map { Precision.f16ToFloat(t.bytes.loadUnaligned(fromByteOffset: $0 * 2,
                                                                                                as: UInt16.self)) }
        default: throw XCTSkip("no float view for \(t.type)")
        }
    }

    private func assertEqual(_ value: GGUFValue, _ kv: JSONValue, _ key: String) throws {
        let type = try XCTUnwrap(kv["type"]?.string)
        let json = try XCTUnwrap(kv["value"])
        if type == "ARRAY" {
            guard case .array(let a) = value else { return XCTFail("\(key): \(value.typeName), expected ARRAY") }
            XCTAssertEqual(a.elementType.description, kv["elem_type"]?.string, key)
            let items = try XCTUnwrap(json.array)
            XCTAssertEqual(a.count, items.count, key)
            for (i, item) in items.enumerated() { try assertScalar(a.element(i), item, key) }
        } else {
            XCTAssertEqual(value.type.description, type, key)
            if case .float32(let f) = value {
                XCTAssertEqual(Int(f.bitPattern), kv["f32_bits"]?.int, key)
            } else {
                try assertScalar(value, json, key)
            }
        }
    }

    private func assertScalar(_ value: GGUFValue, _ json: JSONValue, _ key: String) throws {
        switch value {
        case .string(let s): XCTAssertEqual(s, json.string, key)
        case .bool(let b): XCTAssertEqual(b, json.bool, key)
        case .float32(let f): XCTAssertEqual(f, json.double.map(Float.init), key)
        case .float64(let d): XCTAssertEqual(d, json.double, key)
        case .uint64(let u): XCTAssertEqual(u, json.uint64, key)
        default: XCTAssertEqual(value.integer, json.int, key)
        }
    }
}
