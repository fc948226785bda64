import Foundation
import TestSupport
import XCTest

/// `bloomkit verify` catches one flipped byte in any tensor (the per-tensor checksums) and any truncation, with one
/// line naming the file and the tensor or offset.
final class VerifyCLITests: XCTestCase {
    var scratch: TempDir!
    var gguf = ""
    var bytes = Data()

    override func setUpWithError() throws {
        scratch = try TempDir("cli")
        gguf = scratch.path + "/tiny.gguf"
        let model = try Fixtures.path("models/tiny-a/bin-f32")
        let result = try CLI.run(["convert", model, "-o", gguf, "--type", "q8_0", "--quiet"], in: scratch.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        bytes = try Data(contentsOf: URL(fileURLWithPath: gguf))
    }
    override func tearDown() { scratch = nil }

    /// (name, absolute offset, byte count) of every tensor, from `inspect --json`.
    func tensors() throws -> [(name: String, offset: Int, nbytes: Int)] {
        let result = try CLI.run(["inspect", gguf, "--json"], in: scratch.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let list = json?["tensors"] as? [[String: Any]] ?? []
        return list.compactMap { t in
            guard let name = t["name"] as? String, let offset = t["offset"] as? Int,
                let n = t["nbytes"] as? Int else { return nil }
            return (name, offset, n)
        }
    }

    func verify(_ data: Data, _ what: String) throws -> CLI.Result {
        let path = scratch.path + "/damaged.gguf"
        try data.write(to: URL(fileURLWithPath: path))
        return try CLI.run(["verify", path], in: scratch.path)
    }

    func testTheIntactFileVerifies() throws {
        let result = try CLI.run(["verify", gguf], in: scratch.path)
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    func testOneFlippedByteInAnyTensorIsCaught() throws {
        let list = try tensors()
        XCTAssertEqual(list.count, 29)
        for (k, t) in list.enumerated() {
            // First, last or middle byte, in turn; one bit flipped.
            let at = t.offset + [0, t.nbytes - 1, t.nbytes / 2][k % 3]
            var damaged = bytes
            damaged[at] ^= 0x10
            let result = try verify(damaged, t.name)
            assertBadInput(result, mentions: ["damaged.gguf", t.name], "byte \(at) of \(t.name)")
        }
    }

    func testTruncationsAreCaught() throws {
        let list = try tensors()
        let dataOffset = list.map(\.offset).min() ?? 0
        for cut in [bytes.count - 1, bytes.count - 40, bytes.count / 2, dataOffset + 1, dataOffset - 1, 100, 4] {
            let result = try verify(bytes.prefix(cut), "cut at \(cut)")
            assertBadInput(result, mentions: ["damaged.gguf"], "cut at \(cut) of \(bytes.count)")
        }
    }

    func testADamagedChecksumTableIsCaught() throws {
        // The checksum array itself: the tensor it describes no longer matches.
        guard let range = bytes.range(of: Data("bloomkit.tensor_checksums".utf8)) else {
            throw XCTSkip("no checksum table in the file")
        }
        var damaged = bytes
        damaged[range.upperBound + 4 + 4 + 8 + 3] ^= 0x01  // type u32, element type u32, count u64, then the first u64
        assertBadInput(try verify(damaged, "checksum"), mentions: ["damaged.gguf"], "a flipped checksum")
    }
}
