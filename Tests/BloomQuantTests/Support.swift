import BloomCore
import Foundation
import XCTest

/// Paths of the committed fixtures (Tests/Fixtures, made by Tests/Fixtures/generate.py).
enum Fixtures {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests", url.path != "/" { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures").path
    }()

    /// The bytes of `root/relative`, skipping the test when the fixture is absent.
    static func bytes(_ relative: String) throws -> [UInt8] {
        let p = root + "/" + relative
        try XCTSkipUnless(FileManager.default.fileExists(atPath: p), "fixture \(relative) is not present")
        return Array(try Data(contentsOf: URL(fileURLWithPath: p)))
    }

    /// A little-endian f32 file as values.
    static func floats(_ relative: String) throws -> [Float] {
        let b = try bytes(relative)
        return (0..<b.count / 4).map { i in
            Float(bitPattern: UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16 | UInt32(b[4 * i + 3]) << 24)
        }
    }

    /// A little-endian u16 file as values.
    static func halves(_ relative: String) throws -> [UInt16] {
        let b = try bytes(relative)
        return (0..<b.count / 2).map { UInt16(b[2 * $0]) | UInt16(b[2 * $0 + 1]) << 8 }
    }

    static func json(_ relative: String) throws -> JSONValue { try bytes(relative).withUnsafeBytes { try JSONParser().parse($0) } }
}

/// Seeded SplitMix64, so random tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal value (Box–Muller).
    mutating func gaussian() -> Float {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let v = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }

    mutating func gaussians(_ n: Int, scale: Float) -> [Float] { (0..<n).map { _ in gaussian() * scale } }

    /// Any 32-bit pattern: NaNs with payloads, infinities, subnormals included.
    mutating func anyFloats(_ n: Int) -> [Float] { (0..<n).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &self)) } }
}

/// Asserts that `body` throws a `BloomError` with `code`.
func assertBloomError<T>(_ code: BloomError.Code, file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected error \(code), nothing was thrown", file: file, line: line)
    } catch let error as BloomError {
        XCTAssertEqual(error.code, code, error.description, file: file, line: line)
    } catch {
        XCTFail("expected BloomError \(code), got \(error)", file: file, line: line)
    }
}

/// Same value, NaN equal to any NaN (payloads are not specified).
func sameFloat(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
