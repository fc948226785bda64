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
