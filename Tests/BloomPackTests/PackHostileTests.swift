import BloomCore
@testable import BloomPack
import Foundation
import TestSupport
import XCTest

/// Malformed .bkz files: one clear error with the expected code, and nothing under the final output name.
final class PackHostileTests: XCTestCase {
    private var tmp = ""
    private var good: [UInt8] = []

    override func setUpWithError() throws {
        tmp = try PackFixtures.temporaryFolder()
        let root = try PackFixtures.root()
        _ = try Packer.pack(input: root + "/adapters/alpaca-b", output: tmp + "/good.bkz",
                            options: PackFixtures.options)
        good = try PackFixtures.bytes(tmp + "/good.bkz")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    /// Opens, verifies and unpacks `bytes`; expects `code` and no output (nor temporary) left behind.
    private func expect(_ code: BloomError.Code, _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        let path = tmp + "/bad.bkz", out = tmp + "/out"
        XCTAssertNoThrow(try PackFixtures.write(bytes, path), file: file, line: line)
        if let e = assertBloomError(code, file: file, line: line,
                                    { try BKZArchive(path: path).unpack(to: out, threads: 2) }) {
            XCTAssertEqual(e.path, path, file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "output left behind", file: file, line: line)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []
        XCTAssertEqual(left.filter { $0.contains(AtomicFile.temporaryMarker) }, [], file: file, line: line)
    }

    func testLyingSizes() throws {
        // A chunk that claims more decoded bytes than its frame holds (its segment and file claim them too).
        expect(.bkzBadFrame, try PackFixtures.rewritingIndex(good) { index in
            let s = index.segments.firstIndex { $0.codec == .zstd && !$0.chunks.isEmpty }!
            let c = index.segments[s].chunks.lowerBound
            index.chunks[c].rawLength += 1
            index.segments[s].rawLength += 1
            let f = index.files.firstIndex { $0.segments.contains(s) }!
            index.files[f].size += 1
        })
        // A file size its segments do not add up to.
        expect(.bkzBadIndex, try PackFixtures.rewritingIndex(good) { $0.files[0].size += 1 })
        // A chunk larger than any reader allocates.
        expect(.bkzBadIndex, try PackFixtures.rewritingIndex(good) { index in
            index.chunks[0].rawLength = BKZFormat.maxChunkBytes + 1
        })
        // A field-by-field segment of a ggml type with no known block layout (type 9, Q8_1: not a K-quant).
        expect(.bkzBadIndex, try PackFixtures.rewritingIndex(good) { index in
            let s = index.segments.firstIndex { $0.codec == .zstd && !$0.chunks.isEmpty }!
            index.segments[s].codec = .fields(type: 9)
        })
    }

    func testFrameBomb() throws {
        // The first chunk's frame replaced by a 16 MiB run of zeros (a few bytes of zstd) that the index says
        // decodes to the chunk's length.
        let zeros = [UInt8](repeating: 0, count: 16 << 20)
        let compressor = try ZstdCompressor(level: 3)
        var frame = [UInt8](repeating: 0, count: ZstdCompressor.bound(zeros.count))
        let n = try zeros.withUnsafeBytes { z in
            try frame.withUnsafeMutableBytes { try compressor.compress(z, into: $0) }
        }
        frame = Array(frame[0..<n])
        var index = try good.withUnsafeBytes { try BKZFormat.decode(file: $0) }
        let c = index.segments.first { $0.codec == .zstd && !$0.chunks.isEmpty }!.chunks.lowerBound
        let chunk = index.chunks[c]
        let data = Array(good[32..<chunk.storedOffset]) + frame
            + Array(good[(chunk.storedOffset + chunk.storedLength)...])
        index.chunks[c].planeLengths = [n]
        let indexBytes = BKZFormat.encode(index)
        let dataEnd = 32 + data.count - (good.count - Int(good.withUnsafeBytes {
            $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) }))
        let bomb = BKZFormat.header(indexOffset: dataEnd, indexBytes: indexBytes) + data[0..<(dataEnd - 32)]
            + indexBytes
        expect(.bkzBadFrame, bomb)
    }

    func testIndexAndFramesPastTheEnd() throws {
        var past = good
        past.withUnsafeMutableBytes {
            $0.storeBytes(of: UInt64(good.count + 100).littleEndian, toByteOffset: 8, as: UInt64.self)
        }
        expect(.bkzBadIndex, past)
        expect(.bkzFramePastEnd, try PackFixtures.rewritingIndex(good) { index in
            index.chunks[index.chunks.count - 1].planeLengths[0] += 1000
        })
        expect(.bkzFramePastEnd, try PackFixtures.rewritingIndex(good) { index in
            index.chunks[0].planeLengths[0] -= 1  // a byte belongs to no frame
        })
    }

    func testChecksumMismatch() throws {
        let lastChunk = try PackFixtures.rewritingIndex(good) { $0.chunks[$0.chunks.count - 1].checksum ^= 1 }
        expect(.bkzChecksumMismatch, lastChunk)
        let lastFile = try PackFixtures.rewritingIndex(good) { $0.files[$0.files.count - 1].checksum ^= 1 }
        expect(.bkzChecksumMismatch, lastFile)
        var bytes = good
        bytes[bytes.count - 1] ^= 0x01  // inside the index: the header's index checksum no longer matches
        expect(.bkzChecksumMismatch, bytes)
    }

    func testPathsThatLeaveTheOutput() throws {
        for evil in ["../evil", "/etc/passwd", "a/../../b", "", "a//b", "./a"] {
            expect(.bkzBadPath, try PackFixtures.rewritingIndex(good) { $0.files[0].path = evil })
        }
        expect(.bkzBadPath, try PackFixtures.rewritingIndex(good) { $0.files[1].path = $0.files[0].path })
    }

    func testTruncationAndBadMagic() throws {
        for n in [0, 3, 31] { expect(.truncated, Array(good[0..<n])) }
        for n in [32, good.count / 2, good.count - 1] { expect(.bkzBadIndex, Array(good[0..<n])) }
        var bytes = good
        bytes[0] = 0x47
        expect(.bkzBadMagic, bytes)
        bytes = good
        bytes[4] = 9
        expect(.bkzBadVersion, bytes)
    }

    func testFIFOIsRefusedWithoutBlocking() throws {
        let fifo = tmp + "/fifo.bkz"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try BKZArchive(path: fifo)) { XCTAssertEqual(($0 as? BloomError)?.code, .io) }
        XCTAssertFalse(BKZArchive.looksPacked(fifo))
        XCTAssertThrowsError(try Packer.pack(input: fifo, output: tmp + "/x.bkz", options: PackFixtures.options)) {
            XCTAssertEqual(($0 as? BloomError)?.code, .io)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x.bkz"))
    }

    func testOutputThatIsAnInputIsRefused() throws {
        let root = try PackFixtures.root()
        let bkz = tmp + "/good.bkz"
        XCTAssertThrowsError(try BKZArchive(path: bkz).unpack(to: bkz)) {
            XCTAssertEqual(($0 as? BloomError)?.code, .bkzBadOutput)
        }
        XCTAssertEqual(try PackFixtures.bytes(bkz), good)
        let copy = tmp + "/model.safetensors"
        try FileManager.default.copyItem(atPath: root + "/models/tiny-b/st-f16/model.safetensors", toPath: copy)
        let before = try PackFixtures.bytes(copy)
        XCTAssertThrowsError(try Packer.pack(input: copy, output: tmp + "/./model.safetensors")) {
            XCTAssertEqual(($0 as? BloomError)?.code, .bkzBadOutput)
        }
        XCTAssertThrowsError(try Packer.pack(input: tmp, output: tmp + "/inside.bkz")) {
            XCTAssertEqual(($0 as? BloomError)?.code, .bkzBadOutput)
        }
        XCTAssertEqual(try PackFixtures.bytes(copy), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/inside.bkz"))
        // An existing, non-empty output folder is never merged into.
        try FileManager.default.createDirectory(atPath: tmp + "/full", withIntermediateDirectories: false)
        try PackFixtures.write([1], tmp + "/full/keep")
        XCTAssertThrowsError(try BKZArchive(path: bkz).unpack(to: tmp + "/full")) {
            XCTAssertEqual(($0 as? BloomError)?.code, .bkzBadOutput)
        }
        XCTAssertEqual(try PackFixtures.bytes(tmp + "/full/keep"), [1])
    }
}
