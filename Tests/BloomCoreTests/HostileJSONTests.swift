import BloomCore
import Foundation
import TestSupport
import XCTest

/// The JSON parser every header, config and index goes through, fed what strangers write: each refused with its code
/// and a byte offset, depth bounded without recursion blowing the stack, nothing sized by a number in the text. And the
/// error line itself: control characters from a file cannot break it into several lines or drive the terminal.
final class HostileJSONTests: XCTestCase {
    func expect(_ code: BloomError.Code, _ text: String, _ what: String, line: UInt = #line) {
        expect(code, Array(text.utf8), what, line: line)
    }

    func expect(_ code: BloomError.Code, _ bytes: [UInt8], _ what: String, line: UInt = #line) {
        guard let error = assertBloomError(code, what, line: line,
                                           { try bytes.withUnsafeBytes { try JSONParser().parse($0) } })
        else { return }
        XCTAssertNotNil(error.location, "\(what): no byte offset: \(error)", line: line)
    }

    func testNestingIsBoundedWithoutRecursingDeeply() {
        let limit = JSONParser.defaultMaxDepth
        let ok = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        XCTAssertNoThrow(try JSONParser().parse(ok))
        expect(.limitExceeded, String(repeating: "[", count: limit + 2) + String(repeating: "]", count: limit + 2),
               "one past the limit")
        expect(.limitExceeded, String(repeating: "[", count: 1_000_000), "a million open brackets")
        expect(.limitExceeded, String(repeating: #"{"a":"#, count: 500_000), "half a million nested objects")
    }

    func testMalformedText() {
        expect(.invalidJSON, "", "nothing")
        expect(.invalidJSON, "   ", "only spaces")
        expect(.invalidJSON, #"{"a":1"#, "an unterminated object")
        expect(.invalidJSON, #"["a"#, "an unterminated string")
        expect(.invalidJSON, #"{"a":1,}"#, "a trailing comma")
        expect(.invalidJSON, #"{"a" 1}"#, "a missing colon")
        expect(.invalidJSON, #"{a:1}"#, "an unquoted key")
        expect(.invalidJSON, "{\"a\":1} x", "data after the value")
        expect(.invalidJSON, "tru", "a truncated literal")
        expect(.invalidJSON, "NaN", "NaN")
        expect(.invalidJSON, "-Infinity", "-Infinity")
        expect(.invalidJSON, "01", "a leading zero")
        expect(.invalidJSON, "1.", "a bare decimal point")
        expect(.invalidJSON, "-", "a lone minus")
        expect(.invalidJSON, "1e", "an empty exponent")
        expect(.invalidJSON, [0xEF, 0xBB, 0xBF] + Array("{}".utf8), "a byte-order mark")
        expect(.invalidJSON, #"{"a":1,"a":2}"#, "a duplicate key")
    }

    func testStringsThatLie() {
        expect(.invalidJSON, "\"a\u{1}b\"", "a raw control character")
        expect(.invalidJSON, "\"a\nb\"", "a raw newline")
        expect(.invalidJSON, [0x22, 0xC3, 0x28, 0x22], "invalid UTF-8")
        expect(.invalidJSON, [0x22, 0xED, 0xA0, 0x80, 0x22], "an encoded surrogate (CESU-8)")
        expect(.invalidJSON, [0x22, 0xC0, 0xAF, 0x22], "an overlong encoding")
        expect(.invalidJSON, #""\uD800""#, "a lone high surrogate")
        expect(.invalidJSON, #""\uDC00\uD800""#, "reversed surrogates")
        expect(.invalidJSON, #""\uD800\u0041""#, "a high surrogate before a non-surrogate")
        expect(.invalidJSON, #""\u12""#, "a short \\u escape")
        expect(.invalidJSON, #""\uZZZZ""#, "a non-hex \\u escape")
        expect(.invalidJSON, #""\x41""#, "an unknown escape")
        expect(.invalidJSON, "\"abc\\", "a backslash at the end")
    }

    func testLargeNumbersStayTextNotAllocations() throws {
        // A number is kept as its literal; nothing is sized by it.
        let v = try JSONParser().parse(#"{"n":18446744073709551616,"m":1e999999,"k":-0}"#)
        XCTAssertNil(v["n"]?.int)
        XCTAssertNil(v["n"]?.uint64)
        XCTAssertEqual(v["m"]?.double, .infinity)
        XCTAssertEqual(v["k"]?.int, 0)
        let long = String(repeating: "9", count: 1_000_000)
        XCTAssertNil(try JSONParser().parse(long).int, "a million-digit number is not an Int")
    }

    func testErrorLinesEscapeControlCharactersFromFiles() {
        let error = BloomError(.invalidArgument, "tensor 'a\nb\u{1B}[2J\u{202E}c\td' is bad", path: "/m/x\r.bin",
                               location: "offset 3")
        let line = error.description
        XCTAssertFalse(line.contains(where: \.isNewline), line)
        XCTAssertFalse(line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x202E }, line)
        XCTAssertEqual(line, "/m/x\\u{D}.bin: offset 3: tensor 'a\\u{A}b\\u{1B}[2J\\u{202E}c\\u{9}d' is bad")
        // Text without control characters is left as it is (names in any script).
        XCTAssertEqual(BloomError(.io, "ファイル 'é' ok", path: "/a").description, "/a: ファイル 'é' ok")
        // The verbose form keeps its own line breaks between causes, each cause escaped.
        let chained = BloomError(.io, "outer", cause: BloomError(.io, "inner\nline"))
        XCTAssertEqual(chained.verboseDescription, "outer [io]\n  caused by: inner\\u{A}line")
    }
}
