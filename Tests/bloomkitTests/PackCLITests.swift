import Foundation
import TestSupport
import XCTest

/// `bloomkit pack` / `unpack`, and `inspect` / `verify` of a .bkz, as a user runs them.
final class PackCLITests: XCTestCase {
    func testPackUnpackInspectVerify() throws {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("bloomkit-pack-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let model = try Fixtures.path("models/tiny-b/st-f16")
        let bkz = scratch + "/m.bkz", out = scratch + "/m"

        let pack = try CLI.run(["pack", model, "-o", bkz, "--threads", "2", "--json"], in: scratch)
        XCTAssertEqual(pack.status, 0, pack.stderr)
        let summary = try JSONSerialization.jsonObject(with: Data(pack.stdout.utf8)) as? [String: Any]
        XCTAssertNotNil((summary?["kinds"] as? [String: Any])?["f16"], pack.stdout)

        let inspect = try CLI.run(["inspect", bkz], in: scratch)
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("transformer.word_embeddings.weight  f16-planes"), inspect.stdout)
        XCTAssertEqual(try CLI.run(["verify", bkz, "--quiet"], in: scratch).status, 0)

        let unpack = try CLI.run(["unpack", bkz, "-o", out, "--quiet"], in: scratch)
        XCTAssertEqual(unpack.status, 0, unpack.stderr)
        for name in try FileManager.default.contentsOfDirectory(atPath: model) {
            XCTAssertEqual(FileManager.default.contents(atPath: out + "/" + name),
                           FileManager.default.contents(atPath: model + "/" + name), name)
        }

        // A second unpack into the same folder: refused, one line, exit 1, the folder untouched.
        let again = try CLI.run(["unpack", bkz, "-o", out], in: scratch)
        XCTAssertEqual(again.status, 1)
        XCTAssertEqual(again.errorLines.count, 1, again.stderr)
        XCTAssertTrue(again.errorLines.first?.hasPrefix("error: ") ?? false, again.stderr)

        // One flipped byte in the middle: verify and unpack fail with one line; nothing under the output name.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: bkz))
        bytes[bytes.count / 2] ^= 0x04
        try bytes.write(to: URL(fileURLWithPath: bkz))
        let verify = try CLI.run(["verify", bkz], in: scratch)
        XCTAssertEqual(verify.status, 1)
        XCTAssertEqual(verify.errorLines.count, 1, verify.stderr)
        XCTAssertEqual(try CLI.run(["unpack", bkz, "-o", scratch + "/n"], in: scratch).status, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/n"))

        XCTAssertEqual(try CLI.run(["pack", model, "-o", bkz, "--level", "0"], in: scratch).status, 2)
    }
}
