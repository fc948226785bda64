import BloomCore
import BloomTokenizer
import Foundation
import XCTest

/// Fixture lookup and small helpers shared by the tokenizer tests.
enum Fixtures {
    /// Tests/Fixtures.
    static var root: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.lastPathComponent != "Tests" { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fixtures")
    }

    static var tokenizerFolder: String { root.appendingPathComponent("tokenizer").path }
    static var tokenizerJSON: String { tokenizerFolder + "/tokenizer.json" }

    static func json(_ path: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try data.withUnsafeBytes { try JSONParser().parse($0) }
    }

    /// texts, ids and decoded texts from expected/tokens.json or expected/tokens-random.json (HF tokenizers' output).
    struct Corpus {
        var texts: [String]
        var ids: [[TokenID]]
        var decoded: [String]
    }

    /// The corpus, or a skip while the fixture generator's expected ids have not landed in this checkout.
    static func corpus(_ name: String) throws -> Corpus {
        let path = Self.root.appendingPathComponent("expected/\(name)").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("Tests/Fixtures/expected/\(name) is not in this checkout") }
        let root = try json(path)
        let texts = try XCTUnwrap(root["texts"]?.array).map { try XCTUnwrap($0.string) }
        let ids = try XCTUnwrap(root["ids"]?.array).map { list in
            try XCTUnwrap(list.array).map { try XCTUnwrap($0.int.flatMap { TokenID(exactly: $0) }) }
        }
        let decoded = try XCTUnwrap(root["decoded"]?.array).map { try XCTUnwrap($0.string) }
        XCTAssertEqual(texts.count, ids.count)
        XCTAssertEqual(texts.count, decoded.count)
        return Corpus(texts: texts, ids: ids, decoded: decoded)
    }

    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bloomkit-tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A seeded generator (SplitMix64), so random test inputs are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Seeded random texts for properties that need no expected ids: ASCII words, whitespace runs, punctuation of the
/// split class, CJK, Devanagari, Arabic, emoji with ZWJ and skin tones, combining marks, the specials, any scalar.
func randomTexts(_ count: Int, seed: UInt64) -> [String] {
    var rng = SplitMix64(seed: seed)
    let pools: [[String]] = [
        ["the", "of", "and", "function", "return", " is", "Response", "###", "print(", "x|y(z)"],
        [" ", "  ", "\t", "\n", "\r\n", "\u{A0}", "\u{3000}", "\u{2028}", "\u{85}"],
        [".", ",", "!", "?", "…", "。", "，", "、", "।", "۔", "،", ";", "'"],
        ["的", "天气", "東京", "서울", "भारत", "हिन्दी", "القاهرة", "ماڈل", "Привет", "Καλημέρα"],
        ["😀", "🍕", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🏳️‍🌈", "e\u{301}", "Z\u{337}\u{322}"],
        ["<s>", "</s>", "<pad>", "<unk>", "<s", "s>"],
    ]
    return (0..<count).map { _ in
        var text = ""
        for _ in 0..<Int.random(in: 1..<16, using: &rng) {
            if Int.random(in: 0..<8, using: &rng) == 0 {
                var value: UInt32
                repeat { value = UInt32.random(in: 0...0x10FFFF, using: &rng) } while Unicode.Scalar(value) == nil
                text.unicodeScalars.append(Unicode.Scalar(value)!)
            } else {
                text += pools.randomElement(using: &rng)!.randomElement(using: &rng)!
            }
        }
        return text
    }
}

/// Asserts that `body` throws a `BloomError` with `code`.
func assertThrowsCode<T>(_ code: BloomError.Code, _ message: @autoclosure () -> String = "", file: StaticString = #filePath,
                         line: UInt = #line, _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected error \(code), got success. \(message())", file: file, line: line)
    } catch let error as BloomError {
        XCTAssertEqual(error.code, code, "\(error) \(message())", file: file, line: line)
    } catch {
        XCTFail("expected BloomError \(code), got \(error) \(message())", file: file, line: line)
    }
}

extension JSONValue {
    /// A copy with the value at `path` (object keys) replaced, or removed when `value` is nil.
    func setting(_ path: [String], to value: JSONValue?) -> JSONValue {
        guard let key = path.first, case .object(var pairs) = self else { return value ?? .null }
        if let index = pairs.firstIndex(where: { $0.0 == key }) {
            if path.count == 1, value == nil {
                pairs.remove(at: index)
            } else {
                pairs[index].1 = pairs[index].1.setting(Array(path.dropFirst()), to: value)
            }
        } else if let value {
            pairs.append((key, JSONValue.object([]).setting(Array(path.dropFirst()), to: value)))
        }
        return .object(pairs)
    }
}
