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
        XCTAssertNotNil((summary?["tensor_kinds"] as? [String: Any])?["attn_qkv"], pack.stdout)

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

    /// convert and generate read .bkz files in place: the same GGUF bytes as from the unpacked folder, the same
    /// answer as from the unpacked GGUF file (with one line saying where the model came from and what it takes); a
    /// truncated .bkz is one error line, exit 1, and no output file.
    func testConvertAndGenerateReadPackedFiles() throws {
        let scratch = try TempDir("pack-cli")
        let model = try Fixtures.path("models/tiny-b/st-f16")
        let bkz = scratch.path + "/st-f16.bkz"  // named like the folder: general.name comes from it
        XCTAssertEqual(try CLI.run(["pack", model, "-o", bkz, "--quiet"], in: scratch.path).status, 0)
        let (folderGGUF, packedGGUF) = (scratch.path + "/folder.gguf", scratch.path + "/packed.gguf")
        for (source, output) in [(model, folderGGUF), (bkz, packedGGUF)] {
            let result = try CLI.run(["convert", source, "-o", output, "--type", "q8_0", "--quiet"], in: scratch.path)
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        let converted = FileManager.default.contents(atPath: folderGGUF)
        XCTAssertNotNil(converted)
        XCTAssertEqual(converted, FileManager.default.contents(atPath: packedGGUF))

        let gguf = scratch.path + "/folder.gguf.bkz"
        XCTAssertEqual(try CLI.run(["pack", folderGGUF, "-o", gguf, "--quiet"], in: scratch.path).status, 0)
        let prompt = ["--prompt", "Return a new list", "--max-tokens", "12"]
        let plain = try CLI.run(["generate", folderGGUF] + prompt, in: scratch.path)
        let packed = try CLI.run(["generate", gguf] + prompt, in: scratch.path)
        XCTAssertEqual(packed.status, 0, packed.stderr)
        XCTAssertFalse(plain.stdout.isEmpty)
        XCTAssertEqual(plain.stdout, packed.stdout)
        let size = converted?.count ?? 0
        XCTAssertTrue(packed.stderr.contains("loaded from a packed file: \(gguf) decoded into \(size) bytes of memory"),
                      packed.stderr)

        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: bkz))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: bkz))
        let truncated = try CLI.run(["convert", bkz, "-o", scratch.path + "/t.gguf"], in: scratch.path)
        XCTAssertEqual(truncated.status, 1)
        XCTAssertEqual(truncated.errorLines.count, 1, truncated.stderr)
        XCTAssertTrue(truncated.stderr.hasPrefix("error: "), truncated.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.path + "/t.gguf"))
    }
}
