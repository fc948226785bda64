import BloomCore
import Foundation
import XCTest

/// Test helpers: temporary files, fixture lookup, and a little-endian byte builder for hand-made GGUF files.
enum TestFiles {
    /// A fresh temporary folder, removed by the caller's teardown.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bloomkit-gguf-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Tests/Fixtures, or a skip while the fixture generator's output has not landed in this checkout.
    static func fixtures() throws -> URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests" { url.deleteLastPathComponent() }
        let fixtures = url.appendingPathComponent("Fixtures")
        guard FileManager.default.fileExists(atPath: fixtures.path) else { throw XCTSkip("Tests/Fixtures is not in this checkout") }
        return fixtures
    }

    /// Formats/ at the repository root.
    static func formats() -> URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests" { url.deleteLastPathComponent() }
        return url.deletingLastPathComponent().appendingPathComponent("Formats")
    }

    static func json(_ url: URL) throws -> JSONValue {
        let data = try Data(contentsOf: url)
        return try data.withUnsafeBytes { try JSONParser().parse($0) }
    }
}

/// Little-endian bytes, built field by field.
struct ByteBuilder {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); bytes.append(contentsOf: s.utf8) }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }
}

/// Asserts that `body` throws a `BloomError` with `code`; returns its message.
@discardableResult
func assertThrowsCode<T>(_ code: BloomError.Code, file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> T) -> String? {
    do {
        _ = try body()
        XCTFail("expected error \(code), got success", file: file, line: line)
    } catch let error as BloomError {
        XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        return error.description
    } catch {
        XCTFail("expected BloomError \(code), got \(error)", file: file, line: line)
    }
    return nil
}
