import Foundation
import TestSupport
import XCTest

/// `convert --split-max-tensors` / `--split-max-size`, then every reading command on the first part of the set:
/// inspect, verify, generate (the single file's tokens), perplexity (the single file's value), bench, quantize; a set
/// with a missing part is refused naming it.
final class SplitCLITests: XCTestCase {
    struct Generated: Decodable {
        var text: String
        var tokens: [Int]
    }

    func testEveryCommandAcceptsTheFirstPart() throws {
        let base = try Fixtures.path("models/tiny-b/st-f16")
        let scratch = try TempDir("cli")
        let single = scratch.path + "/m.gguf"
        let first = scratch.path + "/s-00001-of-00004.gguf"
        var r = try CLI.run(["convert", base, "-o", single, "--type", "f32", "--quiet"], in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try CLI.run(["convert", base, "-o", scratch.path + "/s.gguf", "--type", "f32", "--split-max-tensors", "11"],
                        in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("s-00001-of-00004.gguf (part 1 of 4)"), r.stdout)
        for k in 1...4 {
            XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.path + "/s-0000\(k)-of-00004.gguf"))
        }

        r = try CLI.run(["inspect", first], in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("\(first): gguf-split set of 4 parts, 41 tensors"), r.stdout)
        r = try CLI.run(["verify", first], in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)

        func generate(_ model: String) throws -> Generated {
            let r = try CLI.run(["generate", model, "--prompt", "The capital of France is", "--max-tokens", "12",
                                 "--json"], in: scratch.path)
            XCTAssertEqual(r.status, 0, r.stderr)
            return try JSONDecoder().decode(Generated.self, from: Data(r.stdout.utf8))
        }
        let a = try generate(single), b = try generate(first)
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.text, b.text)

        let text = scratch.path + "/t.txt"
        try Data(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 20).utf8)
            .write(to: URL(fileURLWithPath: text))
        let p1 = try CLI.run(["perplexity", single, text, "-c", "32"], in: scratch.path)
        let p2 = try CLI.run(["perplexity", first, text, "-c", "32"], in: scratch.path)
        XCTAssertEqual(p2.status, 0, p2.stderr)
        XCTAssertFalse(p1.stderr.isEmpty)
        XCTAssertEqual(p1.stderr, p2.stderr, "the running per-chunk perplexities")
        r = try CLI.run(["bench", first, "-p", "8", "-n", "4", "-r", "1", "--json"], in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        let bench = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let partBytes = try (1...4).map { k in
            try FileManager.default.attributesOfItem(atPath: scratch.path + "/s-0000\(k)-of-00004.gguf")[.size] as? Int
        }
        XCTAssertEqual(bench?["size_bytes"] as? Int, partBytes.compactMap { $0 }.reduce(0, +), "all parts' bytes")
        r = try CLI.run(["quantize", first, "-o", scratch.path + "/q.gguf", "--type", "q8_0",
                         "--split-max-size", "20K"], in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        let quantizedParts = try parts("q", scratch)
        XCTAssertGreaterThan(quantizedParts, 1)
        r = try CLI.run(["verify", scratch.path + "/q-00001-of-" + String(format: "%05d", quantizedParts) + ".gguf"],
                        in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)

        try FileManager.default.removeItem(atPath: scratch.path + "/s-00004-of-00004.gguf")
        let readers = [["generate", first, "--prompt", "x", "--max-tokens", "1"], ["verify", first], ["inspect", first]]
        for command in readers {
            r = try CLI.run(command, in: scratch.path)
            XCTAssertEqual(r.status, 1, command[0])
            XCTAssertTrue(r.stderr.contains("s-00004-of-00004.gguf") && r.stderr.contains("part 4 of 4"), r.stderr)
        }
        r = try CLI.run(["convert", base, "-o", scratch.path + "/x.gguf", "--split-max-tensors", "2",
                         "--split-max-size", "1G"], in: scratch.path)
        XCTAssertEqual(r.status, 2)
    }

    /// The number of parts of the set `prefix-*` in the scratch folder.
    func parts(_ prefix: String, _ scratch: TempDir) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.hasPrefix(prefix + "-0") }.count
    }
}
