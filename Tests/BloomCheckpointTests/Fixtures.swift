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

    /// `root/relative`, skipping the test when the fixture is absent (the generator has not produced it).
    static func path(_ relative: String) throws -> String {
        let p = root + "/" + relative
        try XCTSkipUnless(FileManager.default.fileExists(atPath: p), "fixture \(relative) is not present")
        return p
    }
}

/// A scratch folder removed when the test ends.
final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "bloomkit-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path + "/" + name
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }
}

/// Asserts that `body` throws a `BloomError` with `code`, and returns it.
@discardableResult
func assertBloomError<T>(_ code: BloomError.Code, _ message: String = "", file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> T) -> BloomError? {
    do {
        _ = try body()
        XCTFail("expected error \(code) but nothing was thrown. \(message)", file: file, line: line)
    } catch let error as BloomError {
        XCTAssertEqual(error.code, code, "\(message): \(error.description)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected BloomError \(code), got \(error). \(message)", file: file, line: line)
    }
    return nil
}

extension Array where Element == UInt8 {
    mutating func le<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
}
