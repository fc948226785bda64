import BloomCore
import TestSupport
import XCTest
@testable import BloomCheckpoint

final class SafetensorsTests: XCTestCase {
    /// A safetensors file: 8-byte N, the header text, `data` bytes (0, 1, 2, …).
    private func file(_ header: String, data: Int, declared: UInt64? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        let h = Array(header.utf8)
        bytes.le(declared ?? UInt64(h.count))
        bytes += h
        bytes += (0..<data).map { UInt8(truncatingIfNeeded: $0) }
        return bytes
    }

    private func open(_ bytes: [UInt8]) throws -> SafetensorsFile {
        let dir = try TempDir()
        return try SafetensorsFile(path: try dir.write("t.safetensors", bytes))
    }

    func testReadsViewsMetadataAndEveryDType() throws {
        // Every dtype of the format, one element each (F4 two, F6 four, to be whole bytes), out of offset order.
        var entries: [String] = []
        var offset = 0
        var expected: [(String, DType, [Int], Int)] = []
        for dtype in DType.allCases {
            let count = dtype.bitSize == 4 ? 2 : dtype.bitSize == 6 ? 4 : 1
            let bytes = try dtype.byteCount(shape: [count])
            entries.append(#""t_\#(dtype.rawValue)":{"dtype":"\#(dtype.rawValue)","shape":[\#(count)],"# +
                           #""data_offsets":[\#(offset),\#(offset + bytes)]}"#)
            expected.append(("t_" + dtype.rawValue, dtype, [count], offset))
            offset += bytes
        }
        entries.append(#""empty":{"dtype":"F32","shape":[0,3],"data_offsets":[\#(offset),\#(offset)]}"#)
        entries.append(#""scalar":{"dtype":"F32","shape":[],"data_offsets":[\#(offset),\#(offset + 4)]}"#)
        let header = "{" + #""__metadata__":{"format":"pt","b":"x"},"# + entries.reversed().joined(separator: ",")
            + "}  "
        let st = try open(file(header, data: offset + 4))
        XCTAssertEqual(st.metadata.map(\.key), ["format", "b"])
        XCTAssertEqual(st.metadata.map(\.value), ["pt", "x"])
        XCTAssertEqual(st.headerLength, header.utf8.count)
        XCTAssertEqual(st.tensors.count, expected.count + 2)
        for (view, want) in zip(st.tensors, expected) {
            XCTAssertEqual(view.name, want.0)
            XCTAssertEqual(view.dtype, want.1)
            XCTAssertEqual(view.shape, want.2)
            XCTAssertEqual(view.fileOffset, 8 + st.headerLength + want.3)
            XCTAssertEqual(Array(view.bytes), Array(st.mapped.bytes[view.range]))
        }
        XCTAssertEqual(st.tensors[expected.count].name, "empty")
        XCTAssertEqual(st.tensors[expected.count].byteCount, 0)
        XCTAssertEqual(st.tensors.last?.shape, [])
        XCTAssertEqual(st.tensors.last?.byteCount, 4)
    }

    /// The malformed-file matrix: each check of the reference reader, with its specific code.
    func testMalformedFilesAreRefusedWithTheirCode() throws {
        let one = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let cases: [(String, [UInt8], BloomError.Code)] = [
            ("shorter than 8 bytes", [1, 0, 0], .safetensorsHeaderLength),
            ("header length past the bound", file("{}", data: 0, declared: UInt64(SafetensorsFile.maxHeaderLength) + 1),
             .safetensorsHeaderTooLarge),
            ("header length u64 max", file("{}", data: 0, declared: UInt64.max), .safetensorsHeaderTooLarge),
            ("8 + N past the end", file(one, data: 8, declared: 200), .safetensorsHeaderLength),
            ("truncated data", file(one, data: 5), .safetensorsIncompleteBuffer),
            ("trailing bytes", file(one, data: 9), .safetensorsIncompleteBuffer),
            ("not JSON", file("{\"a\":", data: 0), .safetensorsHeader),
            ("not an object", file("[1,2]", data: 0), .safetensorsHeader),
            ("duplicate key",
             file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"# +
                  #""a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8),
             .safetensorsHeader),
            ("unknown dtype", file(#"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#, data: 16),
             .safetensorsHeader),
            ("negative dimension", file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4),
             .safetensorsHeader),
            ("fractional offset", file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}"#, data: 4),
             .safetensorsHeader),
            ("offsets not a pair", file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, data: 4),
             .safetensorsHeader),
            ("offset past u64", file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}"#,
                                     data: 4), .safetensorsHeader),
            ("metadata not strings", file(#"{"__metadata__":{"n":1}}"#, data: 0), .safetensorsHeader),
            ("gap before the first tensor", file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8),
             .safetensorsOffsets),
            ("gap between tensors",
             file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"# +
                  #""b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, data: 12),
             .safetensorsOffsets),
            ("overlap",
             file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"# +
                  #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: 12),
             .safetensorsOffsets),
            ("aliasing",
             file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"# +
                  #""b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: 4),
             .safetensorsOffsets),
            ("end before begin",
             file(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"# +
                  #""b":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, data: 4),
             .safetensorsOffsets),
            ("size ≠ shape × dtype", file(#"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}"#, data: 8),
             .safetensorsTensorSize),
            ("shape product overflows",
             file(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: 4),
             .safetensorsTensorSize),
            ("sub-byte length", file(#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, data: 2),
             .safetensorsTensorSize),
        ]
        for (what, bytes, code) in cases {
            let error = assertBloomError(code, what) { try open(bytes) }
            XCTAssertNotNil(error?.path, what)  // every error names the file
        }
        let overlap = assertBloomError(.safetensorsOffsets) {
            try open(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"# +
                          #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: 12))
        }
        XCTAssertEqual(overlap?.location, "tensor 'b'")
    }

    /// Format detection is by content: a header length whose low byte is 0x80 (PROTO) is still safetensors,
    /// whatever the file's name; the legacy torch magic and GGUF are refused with their own messages.
    func testFormatDetection() throws {
        let dir = try TempDir()
        var header = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        header += String(repeating: " ", count: 0x80 - header.utf8.count)
        let weights = try dir.write("weights.bin", file(header, data: 1))
        XCTAssertEqual(try Checkpoint.open(weights).format, .safetensors)
        assertBloomError(.unsupported) { try Checkpoint.open(try dir.write("m.gguf",
                                                                           Array("GGUF".utf8) + [3, 0, 0, 0, 0, 0, 0, 0,
                                                                                                 0])) }
        assertBloomError(.unsupported) { try Checkpoint.open(try dir.write("x.bin", [UInt8](repeating: 7, count: 40))) }
    }

    /// tiny-a was rounded to bf16 before saving: its bf16 shards read as f32 equal the f32 .bin exactly.
    func testBF16ShardsEqualTheF32BinOfTheSameModel() throws {
        let shards = try Checkpoint.open(
            try Fixtures.path("models/tiny-a/st-bf16-sharded/model.safetensors.index.json"))
        let bin = try Checkpoint.open(try Fixtures.path("models/tiny-a/bin-f32/pytorch_model.bin"))
        XCTAssertEqual(shards.format, .safetensors)
        XCTAssertEqual(shards.files.map { ($0.path as NSString).lastPathComponent },
                       (1...3).map { "model-0000\($0)-of-00003.safetensors" })
        XCTAssertEqual(shards.files.map { file -> String? in
            if case .safetensors(let f) = file { return f.metadata.first?.value }
            return nil
        }, ["pt", "pt", "pt"])
        XCTAssertEqual(bin.tensors.count, shards.tensors.filter { $0.name != "lm_head.weight" }.count)
        for view in bin.tensors {
            let other = try XCTUnwrap(shards.tensor(named: "transformer." + view.name), view.name)
            XCTAssertEqual(other.dtype, .BF16)
            XCTAssertEqual(other.shape, view.shape, view.name)
            XCTAssertEqual(try other.floats(), try view.floats(), view.name)
        }
    }

    /// tiny-b's f16 file holds the f32 weights rounded to nearest-even f16.
    func testF16FileIsTheRoundedF32Model() throws {
        let f16 = try Checkpoint.open(try Fixtures.path("models/tiny-b/st-f16/model.safetensors"))
        let f32 = try Checkpoint.open(try Fixtures.path("models/tiny-b/bin-f32-lmhead/pytorch_model.bin.index.json"))
        var compared = 0
        for view in f16.tensors {
            let ref = try XCTUnwrap(f32.tensor(named: view.name), view.name)
            XCTAssertEqual(view.dtype, .F16)
            let want = try ref.floats().map { Precision.floatToF16($0) }
            let got = Array(view.bytes.bindMemory(to: UInt16.self)).map { UInt16(littleEndian: $0) }
            XCTAssertEqual(got, want, view.name)
            compared += 1
        }
        XCTAssertGreaterThan(compared, 10)
    }

    func testShardIndexMustAgreeWithItsShards() throws {
        let source = try Fixtures.path("models/tiny-a/st-bf16-sharded")
        let dir = try TempDir()
        let index = try JSONParser().parse(try String(contentsOfFile: source + "/model.safetensors.index.json",
                                                      encoding: .utf8))
        for k in 1...3 {
            let name = "model-0000\(k)-of-00003.safetensors"
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: dir.path + "/" + name)
        }
        func write(_ map: [(String, JSONValue)]) throws -> String {
            try dir.write("model.safetensors.index.json", JSONWriter.string(.object([("metadata", .object([])),
                                                                                     ("weight_map", .object(map))])))
        }
        let map = try XCTUnwrap(index["weight_map"]?.object)
        XCTAssertNoThrow(try Checkpoint.open(try write(map)))
        assertBloomError(.shardIndex, "tensor missing from the index") {
            try Checkpoint.open(try write(Array(map.dropFirst())))
        }
        assertBloomError(.shardIndex, "tensor placed in the wrong shard") {
            try Checkpoint.open(try write(map.map {
                ($0.0, $0.0 == map[0].0 ? .string("model-00003-of-00003.safetensors") : $0.1)
            }))
        }
        assertBloomError(.shardIndex, "tensor listed but absent") { try Checkpoint.open(try write(map + [("ghost",
                                                                                                          map[0].1)])) }
        assertBloomError(.shardIndex, "shard outside the folder") { try Checkpoint.open(try write([(map[0].0,
            .string("../x.safetensors"))])) }
        assertBloomError(.missingFile, "shard absent") { try Checkpoint.open(try write([(map[0].0,
            .string("nope.safetensors"))])) }
    }
}
