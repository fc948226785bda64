import BloomGGUF
import Foundation
import TestSupport
import XCTest

/// XXH64 against the reference library's values (Formats/test-vectors/xxh64.json, from python xxhash),
/// one-shot and fed in uneven chunks.
final class XXHash64Tests: XCTestCase {
    func testReferenceVectors() throws {
        let json = try Fixtures.json(atPath: Fixtures.repositoryPath("Formats/test-vectors/xxh64.json"))
        let vectors = try XCTUnwrap(json["vectors"]?.array)
        XCTAssertGreaterThan(vectors.count, 10)
        for v in vectors {
            let n = try XCTUnwrap(v["length"]?.int)
            let seed = try XCTUnwrap(v["seed"]?.uint64)
            let expected = try XCTUnwrap(v["xxh64"]?.string.flatMap { UInt64($0, radix: 16) })
            let data = (0..<n).map { UInt8(($0 * 31 + 7) % 256) }
            XCTAssertEqual(data.withUnsafeBytes { XXHash64.hash($0, seed: seed) }, expected, "length \(n) seed \(seed)")
            for chunk in [1, 5, 31, 33] {
                var h = XXHash64(seed: seed)
                var i = 0
                data.withUnsafeBytes { p in
                    while i < n {
                        let j = min(n, i + chunk)
                        h.update(UnsafeRawBufferPointer(rebasing: p[i..<j]))
                        i = j
                    }
                }
                XCTAssertEqual(h.digest(), expected, "length \(n) seed \(seed) in chunks of \(chunk)")
            }
        }
    }
}
