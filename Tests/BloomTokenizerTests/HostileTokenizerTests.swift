import BloomCore
import BloomTokenizer
import Foundation
import TestSupport
import XCTest

/// tokenizer.json files whose size or shape is the attack (LoaderTests covers the malformed pipelines and
/// vocabularies): refused with the limit and the path before the parsed tree could take memory in proportion.
final class HostileTokenizerTests: XCTestCase {
    var folder: TempDir!
    override func setUpWithError() throws { folder = try TempDir("hostile-tokenizer") }
    override func tearDown() { folder = nil }

    func expect(_ code: BloomError.Code, _ path: String, _ what: String, line: UInt = #line) {
        guard let error = assertBloomError(code, what, line: line, { try BloomTokenizer(tokenizerJSONPath: path) })
        else { return }
        XCTAssertEqual(error.path, path, "\(what): \(error)", line: line)
        XCTAssertFalse(error.description.contains(where: \.isNewline), line: line)
    }

    func testAFileOverTheSizeLimitIsRefusedBeforeParsing() throws {
        // Sparse: 1 GiB on paper, no disk used; parsing it would take far longer than this test runs.
        let path = folder.file("tokenizer.json")
        _ = FileManager.default.createFile(atPath: path, contents: Data("{".utf8))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 1 << 30)
        try handle.close()
        expect(.limitExceeded, path, "a 1 GiB tokenizer.json")
    }

    func testDeepNestingIsRefusedWithThePath() throws {
        let path = folder.file("tokenizer.json")
        try Data(("{\"model\":" + String(repeating: "[", count: 200_000)).utf8).write(to: URL(fileURLWithPath: path))
        expect(.limitExceeded, path, "200000 nested arrays")
    }

    func testATokenLongerThanTheLimitIsRefused() throws {
        var json = try Fixtures.json(atPath: Fixtures.tokenizerJSON)
        let long = String(repeating: "a", count: 70_000)
        let vocab = try XCTUnwrap(json["model"]?["vocab"]?.object)
        json = json.setting(["model", "vocab"], to: .object(vocab + [(long, .int(vocab.count))]))
        let path = folder.file("tokenizer.json")
        try Data(JSONWriter.string(json).utf8).write(to: URL(fileURLWithPath: path))
        expect(.limitExceeded, path, "a 70000-byte token")
    }
}
