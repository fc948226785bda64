import Foundation
import TestSupport
import XCTest
@testable import BloomCore

final class AtomicFileTests: XCTestCase {
    private var scratch: TempDir!
    var dir: String { scratch.path }
    override func setUpWithError() throws { scratch = try TempDir("atomic") }
    override func tearDown() { scratch = nil }

    func testCommitRenamesAndAbortLeavesNothing() throws {
        let dest = dir + "/out.bin"
        do {
            let f = try AtomicFile(destination: dest)
            try f.write([1, 2, 3])
            XCTAssertFalse(FileManager.default.fileExists(atPath: dest))
            try f.commit()
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dest)), Data([1, 2, 3]))
        do {
            let f = try AtomicFile(destination: dir + "/other.bin")
            try f.write([9])
        }  // deinit without commit
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out.bin"])
    }

    /// O_DIRECT writes (whole aligned blocks, the last partial block through the cache) give exactly the bytes
    /// written, whatever the sizes of the writes and of the file, with or after an overwrite.
    func testDirectWritesKeepEveryByte() throws {
        var rng = SplitMix64(seed: 7)
        for (k, size) in [0, 1, 4095, 4096, 4097, 3 * 8192 + 5, 40_000].enumerated() {
            let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let dest = dir + "/direct-\(k).bin"
            let f = try AtomicFile(destination: dest, bufferSize: 8192, direct: true)
            #if os(Linux)
            if k == 0 { XCTAssertTrue(f.writesDirectly, "the test folder's file system refused O_DIRECT") }
            #endif
            var at = 0, step = 1
            while at < size {  // writes of 1, 2, 4, … bytes: every offset into the buffer
                let n = min(step, size - at)
                try bytes[at..<(at + n)].withUnsafeBytes { try f.write($0) }
                at += n
                step = step * 2 % 20_000 + 1
            }
            var expected = bytes
            if size >= 3 {
                try [UInt8]([0xAB, 0xCD]).withUnsafeBytes { try f.overwrite(at: 1, $0) }
                expected[1] = 0xAB
                expected[2] = 0xCD
            }
            try f.commit()
            XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: dest))), expected, "size \(size)")
        }
    }

    func testStaleTemporaryOfDeadProcessIsRemoved() throws {
        let stale = dir + "/.x.gguf" + AtomicFile.temporaryMarker + "999999"
        XCTAssertTrue(FileManager.default.createFile(atPath: stale, contents: Data([0])))
        AtomicFile.removeStaleTemporaries(in: dir)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
    }

    func testMappedFileSliceBounds() throws {
        let path = dir + "/m.bin"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3, 4])))
        let m = try MappedFile(path: path)
        XCTAssertEqual(Array(try m.slice(offset: 1, length: 3)), [2, 3, 4])
        XCTAssertThrowsError(try m.slice(offset: 2, length: 3)) { XCTAssertEqual(($0 as? BloomError)?.code,
                                                                                 .outOfBounds) }
        XCTAssertThrowsError(try m.slice(offset: Int.max, length: 2))
        var r = ByteReader(m.bytes)
        XCTAssertEqual(try r.read(UInt16.self), 0x0201)
        XCTAssertThrowsError(try r.read(UInt32.self)) { XCTAssertEqual(($0 as? BloomError)?.code, .truncated) }
    }
}
