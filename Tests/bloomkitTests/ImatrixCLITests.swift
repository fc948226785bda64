import Foundation
import TestSupport
import XCTest

/// `bloomkit imatrix` end to end (the values are pinned against llama-imatrix in BloomRuntimeTests).
final class ImatrixCLITests: XCTestCase {
    func testImatrixWritesAFileAndRefusesAShortText() throws {
        let scratch = try TempDir("cli-imatrix")
        let model = scratch.file("tiny-b-f16.gguf")
        let convert = try CLI.run(["convert", try Fixtures.path("models/tiny-b/bin-f32-lmhead"), "--type", "f16",
                                   "-o", model], in: scratch.path)
        XCTAssertEqual(convert.status, 0, convert.stderr)
        let text = try Fixtures.path("expected/perplexity/heldout.txt")
        let out = scratch.file("imatrix.gguf")
        let r = try CLI.run(["imatrix", model, "-f", text, "-o", out, "-c", "64", "--chunks", "4"], in: scratch.path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("12 matrices, 4 chunks of 64 tokens"), r.stdout)
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: out)).prefix(4)), Array("GGUF".utf8))
        XCTAssertEqual(TempDir.temporaries(scratch.path), [])

        let short = try scratch.write("short.txt", "a few words")
        assertBadInput(try CLI.run(["imatrix", model, "-f", short, "-o", scratch.file("x.gguf")], in: scratch.path),
                       mentions: [short, "needs at least 1024 tokens"], "text shorter than two chunks")
        XCTAssertEqual(try CLI.run(["imatrix", model, "-f", text, "-c", "0"], in: scratch.path).status, 2)
    }
}
