import CKernels
import TestSupport
import XCTest

/// bk_planes.h: joining byte planes back into elements, the AVX2 path against its scalar *_ref twin, and the twin
/// against the format's definition (Formats/bkz.md: lo = e << 7 | m & 0x7F, hi = m & 0x80 | e >> 1).
final class PlaneKernelTests: XCTestCase {
    /// Random planes of every length from 0 to 100 (tails of every size) and one long run.
    private static func planes(_ count: Int, _ n: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
    }

    func testJoin2MatchesItsTwinAndTheFormat() {
        for n in Array(0...100) + [4099] {
            let p = Self.planes(2, n, seed: UInt64(n))
            var fast = [UInt8](repeating: 0xAA, count: 2 * n), ref = [UInt8](repeating: 0x55, count: 2 * n)
            bk_join_planes2(p[0], p[1], &fast, n)
            bk_join_planes2_ref(p[0], p[1], &ref, n)
            XCTAssertEqual(fast, ref, "n \(n)")
            for i in 0..<n {
                let (e, m) = (p[0][i], p[1][i])
                XCTAssertEqual(ref[2 * i], e << 7 | m & 0x7F, "n \(n) element \(i)")
                XCTAssertEqual(ref[2 * i + 1], m & 0x80 | e >> 1, "n \(n) element \(i)")
            }
        }
    }

    func testJoin4MatchesItsTwinAndTheFormat() {
        for n in Array(0...100) + [4099] {
            let p = Self.planes(4, n, seed: 1000 + UInt64(n))
            var fast = [UInt8](repeating: 0xAA, count: 4 * n), ref = [UInt8](repeating: 0x55, count: 4 * n)
            bk_join_planes4(p[0], p[1], p[2], p[3], &fast, n)
            bk_join_planes4_ref(p[0], p[1], p[2], p[3], &ref, n)
            XCTAssertEqual(fast, ref, "n \(n)")
            for i in 0..<n {
                let (e, m) = (p[0][i], p[1][i])
                let expected = [p[3][i], p[2][i], e << 7 | m & 0x7F, m & 0x80 | e >> 1]
                XCTAssertEqual(Array(ref[(4 * i)..<(4 * i + 4)]), expected, "n \(n) element \(i)")
            }
        }
    }
}
