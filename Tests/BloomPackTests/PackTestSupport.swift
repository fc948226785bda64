import BloomCore
@testable import BloomPack
import Foundation
import TestSupport
import XCTest

enum PackFixtures {
    /// Tests/Fixtures (the test is skipped when the fixtures are absent).
    static func root() throws -> String {
        _ = try Fixtures.path("models")
        return Fixtures.root
    }

    static func temporaryFolder() throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("bloomkit-pack-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// Small chunks, so tensors span several chunks and the pipeline runs several batches.
    static let options = PackOptions(level: 3, threads: 2, chunkBytes: 16 << 10, quiet: true)

    static func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    /// Regular files under `folder` as relative path → bytes.
    static func tree(_ folder: String) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for (rel, path) in try PackPaths.files(under: folder) { out[rel] = try bytes(path) }
        return out
    }

    /// The .bkz `bytes` with its index replaced by `change(index)` (header and index checksum rewritten, so only
    /// the change itself is wrong).
    static func rewritingIndex(_ bytes: [UInt8], _ change: (inout BKZIndex) -> Void) throws -> [UInt8] {
        var index = try bytes.withUnsafeBytes { try BKZFormat.decode(file: $0) }
        let dataEnd = Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) })
        change(&index)
        let indexBytes = BKZFormat.encode(index)
        return BKZFormat.header(indexOffset: dataEnd, indexBytes: indexBytes) + bytes[32..<dataEnd] + indexBytes
    }
}
