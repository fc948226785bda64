import BloomCore
import Foundation
import XCTest

/// The committed fixtures (Tests/Fixtures, made by Tests/Fixtures/generate.py) and other files of the checkout
/// (Formats/, Fuzz/). The lookups by relative path skip the test when the file is absent instead of failing it.
public enum Fixtures {
    /// The repository root: the folder that holds Tests/.
    public static let repository: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests", url.path != "/" { url.deleteLastPathComponent() }
        return url.deletingLastPathComponent()
    }()

    /// Tests/Fixtures, as a path.
    public static let root: String = repository.appendingPathComponent("Tests/Fixtures").path

    /// `Tests/Fixtures/relative`, skipping the test when it is absent.
    public static func path(_ relative: String) throws -> String {
        try existing(root + "/" + relative, relative)
    }

    /// `Tests/Fixtures/relative` as a URL, skipping the test when it is absent.
    public static func url(_ relative: String) throws -> URL { URL(fileURLWithPath: try path(relative)) }

    /// `relative` to the repository root (`Formats/…`, `Fuzz/…`), skipping the test when it is absent.
    public static func repositoryPath(_ relative: String) throws -> String {
        try existing(repository.appendingPathComponent(relative).path, relative)
    }

    /// The bytes of `Tests/Fixtures/relative`.
    public static func bytes(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: url(relative)))
    }

    /// `Tests/Fixtures/relative` as UTF-8 text.
    public static func text(_ relative: String) throws -> String {
        String(decoding: try bytes(relative), as: UTF8.self)
    }

    /// `Tests/Fixtures/relative` parsed as JSON.
    public static func json(_ relative: String) throws -> JSONValue { try json(atPath: path(relative)) }

    /// The JSON file at an absolute `path`.
    public static func json(atPath path: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try data.withUnsafeBytes { try JSONParser().parse($0) }
    }

    /// A JSON string of base64 bytes (the test-vector files' encoding); `file` names the JSON file in the failure.
    public static func base64Bytes(_ v: JSONValue?, in file: String) throws -> [UInt8] {
        try XCTUnwrap(v?.string.flatMap { Data(base64Encoded: $0) }.map { Array($0) }, "bad base64 in \(file)")
    }

    /// A JSON string of base64 little-endian f32 values.
    public static func base64Floats(_ v: JSONValue?, in file: String) throws -> [Float] {
        let b = try base64Bytes(v, in: file)
        return stride(from: 0, to: b.count, by: 4).map { i in
            Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[i + $1]) << (8 * $1) })
        }
    }

    /// A little-endian f32 file as values.
    public static func floats(_ relative: String) throws -> [Float] {
        let b = try bytes(relative)
        return (0..<b.count / 4).map { i in
            Float(bitPattern: UInt32(b[4 * i]) | UInt32(b[4 * i + 1]) << 8 | UInt32(b[4 * i + 2]) << 16
                | UInt32(b[4 * i + 3]) << 24)
        }
    }

    /// A little-endian u16 file as values.
    public static func halves(_ relative: String) throws -> [UInt16] {
        let b = try bytes(relative)
        return (0..<b.count / 2).map { UInt16(b[2 * $0]) | UInt16(b[2 * $0 + 1]) << 8 }
    }

    private static func existing(_ path: String, _ relative: String) throws -> String {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: path), "\(relative) is not in this checkout")
        return path
    }
}
