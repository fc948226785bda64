import BloomCheckpoint
import BloomCore
import Foundation
import TestSupport
import XCTest

/// The malformed-file matrix of the checkpoint readers: safetensors (Tests/Fixtures/hostile and files made here), torch
/// zip archives, shard indexes. Each file is refused with its own code, a one-line message naming the file and the
/// place, and nothing sized by the file's numbers is allocated before the number is checked against the file.
final class HostileArchiveTests: XCTestCase {
    var folder: TempDir!
    override func setUpWithError() throws { folder = try TempDir() }
    override func tearDown() { folder = nil }

    /// Writes `bytes` and asserts that opening them as a checkpoint fails with `code`.
    func expect(_ code: BloomError.Code, _ bytes: [UInt8], name: String = "f.safetensors", located: Bool = true,
                _ what: String, line: UInt = #line) throws {
        let path = try folder.write(name, bytes)
        HostileKit.expect(code, file: path, located: located, what, line: line) { try Checkpoint.open(path) }
    }

    // MARK: safetensors

    /// `N` + header + data, as the format lays it out.
    func safetensors(_ header: String, data: Int = 0, length: UInt64? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.le(length ?? UInt64(header.utf8.count))
        return out + Array(header.utf8) + [UInt8](repeating: 0, count: data)
    }

    func testSafetensorsFixtures() throws {
        let cases: [(String, BloomError.Code)] = [
            ("truncated", .safetensorsIncompleteBuffer), ("overlap", .safetensorsOffsets), ("gap", .safetensorsOffsets),
            ("header_too_large", .safetensorsHeaderTooLarge), ("header_past_eof", .safetensorsHeaderLength),
            ("bad_json", .safetensorsHeader), ("bad_dtype", .safetensorsHeader),
            ("shape_mismatch", .safetensorsTensorSize),
            ("offset_overflow", .safetensorsHeader), ("duplicate_key", .safetensorsHeader),
            ("metadata_not_string", .safetensorsHeader),
        ]
        for (name, code) in cases {
            let path = try Fixtures.path("hostile/\(name).safetensors")
            HostileKit.expect(code, file: path, name) { try Checkpoint.open(path) }
        }
    }

    func testSafetensorsHeaderLengths() throws {
        try expect(.safetensorsHeaderLength, [1, 2, 3], "a file shorter than the length field")
        try expect(.safetensorsHeaderTooLarge, safetensors("{}", length: .max), "N = 2^64 - 1")
        try expect(.safetensorsHeaderTooLarge, safetensors("{}", length: 100_000_001), "N one past 100 MB")
        try expect(.safetensorsHeaderLength, safetensors("{}", length: 3), "N past the end of a tiny file")
    }

    func testSafetensorsHeaderShapes() throws {
        try expect(.safetensorsHeader, safetensors("[]"), "a header that is an array")
        try expect(.safetensorsHeader, safetensors(#"{"a":5}"#), "an entry that is a number")
        try expect(.safetensorsHeader, safetensors(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                                                   data: 4),
                   "a negative dimension")
        try expect(.safetensorsHeader, safetensors(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
                                                   data: 4),
                   "a fractional dimension")
        try expect(.safetensorsHeader, safetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
                                                   data: 8),
                   "three data offsets")
        try expect(.safetensorsHeader,
                   safetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}"#),
                   "an offset past u64")
        try expect(.safetensorsHeader, safetensors("{\"a\u{0}\":{}}"), "a control character in a name")
        var badUTF8 = safetensors(#"{"ab":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: 4)
        badUTF8[10] = 0xFF
        try expect(.safetensorsHeader, badUTF8, "a name that is not UTF-8")
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let error = HostileKit.expect(.safetensorsHeader, "metadata nested 10000 deep") {
            try Checkpoint.open(try folder.write("deep.safetensors", safetensors(#"{"__metadata__":{"k":\#(deep)}}"#)))
        }
        XCTAssertEqual((error?.cause as? BloomError)?.code, .limitExceeded)
    }

    func testSafetensorsOffsetsAndSizes() throws {
        try expect(.safetensorsOffsets, safetensors(#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#, data: 4),
                   "END before BEGIN")
        try expect(.safetensorsTensorSize, safetensors(#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#,
                                                       data: 2),
                   "3 × F4 is not whole bytes")
        try expect(.safetensorsTensorSize,
                   safetensors(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, data: 4),
                   "a shape whose byte count overflows")
        try expect(.safetensorsIncompleteBuffer, safetensors(#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
                                                             data: 5),
                   "bytes after the last tensor")
        try expect(.safetensorsIncompleteBuffer,
                   safetensors(#"{"a":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}"#,
                               data: 1),
                   "a 1 TiB tensor in a 1-byte buffer (mapped, never allocated)")
    }

    func testAnEscapeSequenceInATensorNameCannotBreakTheErrorLine() throws {
        let header = "{\"evil\\n\\u001b[31mname\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}"
        let path = try folder.write("esc.safetensors", safetensors(header, data: 4))
        let error = HostileKit.expect(.safetensorsTensorSize, file: path, "newline and ANSI escape in a name") {
            try Checkpoint.open(path)
        }
        XCTAssertFalse(error?.description.contains("\u{1B}") ?? true, error?.description ?? "")
        XCTAssertTrue(error?.description.contains("evil\\u{A}\\u{1B}[31mname") ?? false, error?.description ?? "")
    }

    // MARK: zip archives

    func testNotAZipOrASafetensorsFile() throws {
        try expect(.unsupported, Array("hello, this is text".utf8), name: "x.bin", located: false, "plain text")
        try expect(.unsupported, Array("GGUF\u{3}\0\0\0".utf8), name: "x.bin", located: false,
                   "a GGUF file given as a checkpoint")
        try expect(.zipFormat, [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 40), name: "x.bin",
                   "a local header and no end record")
    }

    func testZipStructureLies() throws {
        let good = [HostileZip.Entry("archive/data.pkl", HostilePickle.stateDict([HostileTensor()])),
                    HostileZip.Entry("archive/data/0", [UInt8](repeating: 0, count: 16))]

        var cdPast = HostileZip(good)
        cdPast.cdOffsetOverride = 0x7FFF_0000
        try expect(.zipFormat, cdPast.bytes, name: "x.bin", "central directory past the end")

        var tooMany = HostileZip(good)
        tooMany.entryCountOverride = 0xFFFF
        try expect(.zipFormat, tooMany.bytes, name: "x.bin", "65535 entries in a directory of 2")

        var multiDisk = HostileZip(good)
        multiDisk.eocdDisk = 3
        try expect(.zipUnsupported, multiDisk.bytes, name: "x.bin", "a multi-disk archive")

        var zip64 = HostileZip(good)
        zip64.zip64LocatorOffset = 1 << 40
        try expect(.zipFormat, zip64.bytes, name: "x.bin", "a ZIP64 locator pointing past the file")

        var encrypted = good
        encrypted[0].flags = 1
        try expect(.zipUnsupported, HostileZip(encrypted).bytes, name: "x.bin", "an encrypted entry")

        var bzip2 = good
        bzip2[1].method = 12
        try expect(.zipUnsupported, HostileZip(bzip2).bytes, name: "x.bin", "a bzip2 entry")

        var badLocal = good
        badLocal[1].localSignature = 0xDEAD_BEEF
        try expect(.zipFormat, HostileZip(badLocal).bytes, name: "x.bin", "a bad local header signature")

        var localPast = good
        localPast[1].localOffsetOverride = 0x7000_0000
        try expect(.zipFormat, HostileZip(localPast).bytes, name: "x.bin", "a local header past the end")

        var sizeLie = good
        sizeLie[0].size = 10
        try expect(.zipFormat, HostileZip(sizeLie).bytes, name: "x.bin", "a stored entry whose sizes disagree")

        var dataPast = good
        dataPast[0].data = HostilePickle.stateDict([HostileTensor(numel: 50, shape: [4], stride: [1])])
        dataPast[1].compressedSize = 200
        dataPast[1].size = 200
        try expect(.zipFormat, HostileZip(dataPast).bytes, name: "x.bin", "stored data running past the end")
    }

    func testDeflatedEntriesThatLie() throws {
        let pickle = HostilePickle.stateDict([HostileTensor()])
        func archive(_ data: HostileZip.Entry, pickle: [UInt8] = pickle) -> [UInt8] {
            HostileZip([.deflated("archive/data.pkl", pickle), data]).bytes
        }
        // The pickle agrees with the 4 GiB the directory claims, so only the deflate ratio bound stands in the way.
        var bomb = HostileZip.Entry.deflated("archive/data/0", [UInt8](repeating: 0, count: 16))
        bomb.size = 0xFFFF_FFF0
        let bombPickle = HostilePickle.stateDict([HostileTensor(numel: 0x3FFF_FFFC, shape: [4], stride: [1])])
        try expect(.zipInflate, archive(bomb, pickle: bombPickle), name: "x.bin",
                   "4 GiB claimed from 21 deflated bytes (refused before allocating)")

        var crc = HostileZip.Entry.deflated("archive/data/0", [UInt8](repeating: 0, count: 16))
        crc.crc ^= 1
        try expect(.zipInflate, archive(crc), name: "x.bin", "a CRC that does not match")

        var damaged = HostileZip.Entry.deflated("archive/data/0", [UInt8](repeating: 0, count: 16))
        damaged.data[0] = 0x07  // BTYPE 11: reserved
        try expect(.zipInflate, archive(damaged), name: "x.bin", "a damaged deflate stream")

        var short = HostileZip.Entry.deflated("archive/data/0", [UInt8](repeating: 0, count: 16))
        short.data.removeLast(4)
        short.compressedSize = UInt32(short.data.count)
        try expect(.zipInflate, archive(short), name: "x.bin", "a truncated deflate stream")
    }

    func testTorchRecordsMissingOrWrong() throws {
        let pickle = HostilePickle.stateDict([HostileTensor()])
        try expect(.torchMissingRecord, HostileZip([.init("archive/data/0", [UInt8](repeating: 0, count: 16))]).bytes,
                   name: "x.bin", located: false, "no data.pkl")
        try expect(.torchMissingRecord, HostileZip([.init("archive/data.pkl", pickle)]).bytes, name: "x.bin",
                   located: false,
                   "no data/0")
        try expect(.torchMissingRecord, HostileZip([]).bytes, name: "x.bin", located: false, "an empty archive")
        try expect(.zipFormat, HostileZip([.init("data.pkl", pickle)]).bytes, name: "x.bin", located: false,
                   "entries outside a folder")
        try expect(.unsupported, hostileTorchZip(pickle, byteorder: "big"), name: "x.bin", "big-endian tensors")
    }

    // MARK: shard indexes

    func testShardIndexesThatLie() throws {
        func index(_ json: String) throws -> String {
            try folder.write("model.safetensors.index.json", json)
        }
        let shard = safetensors(#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#, data: 2)
        try folder.write("model-1.safetensors", shard)
        let cases: [(String, BloomError.Code, String)] = [
            (#"{"weight_map":{"a":"../model-1.safetensors"}}"#, .shardIndex, "a shard outside the folder"),
            (#"{"weight_map":{"a":"/etc/passwd"}}"#, .shardIndex, "an absolute shard path"),
            (#"{"weight_map":{"a":5}}"#, .shardIndex, "a shard name that is a number"),
            (#"{"weight_map":[]}"#, .shardIndex, "a weight map that is a list"),
            (#"{"weight_map":{}}"#, .shardIndex, "an empty weight map"),
            (#"{"weight_map":{"a":"model-2.safetensors"}}"#, .missingFile, "a shard that does not exist"),
            (#"{"weight_map":{"a":"model-1.safetensors","b":"model-1.safetensors"}}"#, .shardIndex,
             "a tensor the shard lacks"),
            (#"{"weight_map":{"a":"model-1.safetensors","a":"model-1.safetensors"}}"#, .invalidJSON, "a duplicate key"),
        ]
        for (json, code, what) in cases {
            let path = try index(json)
            HostileKit.expect(code, file: path, located: false, what) { try Checkpoint.open(path) }
        }
    }
}
