import BloomCore
import BloomGGUF
import Foundation
import TestSupport
import XCTest

/// Hostile GGUF files beyond the malformed matrix of GGUFMalformedTests: truncations and header bytes corrupted all
/// over a real file (never a trap, always a located error naming the file, or a file that still validates),
/// and lengths that claim gigabytes in a file of bytes (refused before anything is allocated; the address-sanitizer run
/// with ASAN_OPTIONS=max_allocation_size_mb=512 turns any such allocation into a crash).
final class HostileGGUFTests: XCTestCase {
    var folder: TempDir!
    override func setUpWithError() throws { folder = try TempDir("hostile-gguf") }
    override func tearDown() { folder = nil }

    func sample() throws -> [UInt8] {
        try Fixtures.bytes("expected/gguf/sample.gguf")
    }

    /// Opens `bytes`; a failure must be a one-line BloomError naming the file. Returns the code, nil on success.
    func open(_ bytes: [UInt8], _ what: String, line: UInt = #line) throws -> BloomError.Code? {
        let url = folder.url.appendingPathComponent("f.gguf")
        try Data(bytes).write(to: url)
        do {
            let file = try GGUFFile(path: url.path)
            for t in file.tensors { XCTAssertLessThanOrEqual(t.fileOffset + t.byteCount, bytes.count, what,
                                                             line: line) }
            return nil
        } catch let error as BloomError {
            XCTAssertEqual(error.path, url.path, "\(what): \(error)", line: line)
            XCTAssertFalse(error.description.contains(where: \.isNewline), "\(what): \(error)", line: line)
            return error.code
        }
    }

    /// Positions to try: every one in the first 128 bytes (magic, counts, the first KVs), then every `stride`-th, and
    /// the last 8 (debug builds parse slowly; the fuzzer covers the rest).
    func positions(_ count: Int, stride step: Int) -> [Int] {
        Array(Set(Array(0..<min(128, count)) + Array(stride(from: 128, to: count, by: step)) + Array(max(0,
            count - 8)..<count))).sorted()
    }

    func testTruncationsAreRefused() throws {
        let bytes = try sample()
        let url = try Fixtures.url("expected/gguf/sample.gguf")
        let dataEnd = try GGUFFile(path: url.path).tensors.map { $0.fileOffset + $0.byteCount }.max() ?? 0
        var codes = Set<String>()
        for n in positions(bytes.count, stride: 5) {
            let code = try open(Array(bytes[..<n]), "cut at \(n)")
            // A cut inside the last tensor's trailing padding leaves every byte in place; the reader accepts it
            // (llama.cpp would not: it reads the padded size).
            if n < dataEnd { XCTAssertNotNil(code, "the file cut at \(n) of \(bytes.count) bytes was accepted") }
            if let code { codes.insert(code.rawValue) }
        }
        // Cuts land in the magic, a fixed-size field, a string, an array or the data.
        XCTAssertTrue(codes.isSuperset(of: ["gguf-bad-magic", "truncated", "gguf-data-past-end"]), "\(codes.sorted())")
    }

    func testHeaderCorruptionsNeverTrap() throws {
        let bytes = try sample()
        let header = try GGUFFile(path: Fixtures.path("expected/gguf/sample.gguf")).dataOffset
        var refused = 0
        let tried = positions(header, stride: 3)
        for i in tried {
            var copy = bytes
            copy[i] ^= 0xFF
            if try open(copy, "byte \(i) inverted") != nil { refused += 1 }
        }
        XCTAssertGreaterThan(refused, tried.count / 2, "most corruptions of the header must be refused")
    }

    /// A header with one KV whose body is `body`, nothing else.
    func oneKV(_ body: (inout ByteBuilder) -> Void) -> [UInt8] {
        var b = ByteBuilder()
        b.raw(Array("GGUF".utf8)); b.u32(3); b.u64(0); b.u64(1)
        b.str("k")
        body(&b)
        b.raw([UInt8](repeating: 0, count: 32))
        return b.bytes
    }

    func testLengthsClaimingGigabytesInATinyFile() throws {
        // Each would need 1–16 GiB if allocated from its count; the file has under 100 bytes.
        XCTAssertEqual(try open(oneKV { $0.u32(9); $0.u32(10); $0.u64(1 << 27) }, "2^27 u64 (1 GiB)"),
                       .ggufCountPastEnd)
        XCTAssertEqual(try open(oneKV { $0.u32(9); $0.u32(0); $0.u64(1 << 30) }, "2^30 u8"), .ggufCountPastEnd)
        XCTAssertEqual(try open(oneKV { $0.u32(9); $0.u32(8); $0.u64(1 << 31) }, "2^31 strings"), .ggufCountPastEnd)
        XCTAssertEqual(try open(oneKV { $0.u32(9); $0.u32(7); $0.u64(UInt64.max) }, "2^64-1 bools"), .ggufCountPastEnd)
        XCTAssertEqual(try open(oneKV { $0.u32(8); $0.u64(1 << 30) }, "a 1 GiB string"), .ggufStringPastEnd)
        XCTAssertEqual(try open(oneKV { $0.u32(9); $0.u32(8); $0.u64(2); $0.u64(1 << 30) },
                                "a 1 GiB string in an array"),
                       .ggufStringPastEnd)
        var b = ByteBuilder()
        b.raw(Array("GGUF".utf8)); b.u32(3); b.u64(1 << 26); b.u64(0)
        XCTAssertEqual(try open(b.bytes, "2^26 tensor infos"), .ggufCountPastEnd)
    }
}
