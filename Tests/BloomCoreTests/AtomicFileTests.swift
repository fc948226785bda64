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

    /// Positional writes from several threads at once (unpack's workers) give exactly the bytes placed, whatever
    /// the sizes and the order; a file assembled that way commits like any other.
    func testPositionalWritesFromSeveralThreadsKeepEveryByte() throws {
        var rng = SplitMix64(seed: 7)
        let size = 3 * 65_536 + 5
        let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var cuts = [0, size]
        for _ in 0..<40 { cuts.append(Int(rng.next() % UInt64(size))) }
        cuts = Array(Set(cuts)).sorted()
        let pieces = Array(zip(cuts, cuts.dropFirst())).shuffled(using: &rng)
        let dest = dir + "/placed.bin"
        nonisolated(unsafe) let f = try AtomicFile(destination: dest, bufferSize: 0)
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: pieces.count) { k in
            let (from, to) = pieces[k]
            do { try bytes[from..<to].withUnsafeBytes { try f.write($0, at: from) } } catch {
                failures.add("\(error)")
            }
        }
        XCTAssertEqual(failures.all, [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dest))
        try f.commit()
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: dest))), bytes)
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

/// Errors gathered from several threads.
private final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
