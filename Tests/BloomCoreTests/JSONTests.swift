import XCTest
@testable import BloomCore

final class JSONTests: XCTestCase {
    func testParsesNestedValuesInOrder() throws {
        let v = try JSONParser().parse(
            #"{"b": [1, 2.5, -3e2], "a": {"x": null, "y": true}, "s": "\u00e9\ud83d\ude00\n"}"#)
        XCTAssertEqual(v.object?.map(\.0), ["b", "a", "s"])
        XCTAssertEqual(v["b"]?.array?.first?.int, 1)
        XCTAssertEqual(v["s"]?.string, "é😀\n")
        XCTAssertEqual(v["a"]?["y"]?.bool, true)
        XCTAssertEqual(try JSONParser().parse("18446744073709551615").uint64, UInt64.max)
        // Canonically equivalent but different keys are different keys (vocabularies hold both).
        XCTAssertEqual(try JSONParser().parse("{\"\u{E9}\": 1, \"e\u{301}\": 2}").object?.count, 2)
    }

    func testRefusesMalformedAndHostile() {
        let cases = ["{", "[1,]", "{\"a\":1,}", "\"abc", "01", "{\"a\":1,\"a\":2}", "\"\\ud800\"", "tru", "1 2",
                     String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)]
        for text in cases {
            XCTAssertThrowsError(try JSONParser().parse(text), text.prefix(20).description)
        }
        XCTAssertThrowsError(try JSONParser().parse(String(repeating: "[", count: 200) + String(repeating: "]",
                                                                                                count: 200))) {
            XCTAssertEqual(($0 as? BloomError)?.code, .limitExceeded)
        }
    }

    func testWriterRoundTrips() throws {
        let v: JSONValue = .object([("name", .string("a\"b\\c\u{1}")), ("shape", .array([.int(3), .int(4)])),
                                    ("x", .null)])
        for pretty in [false, true] {
            XCTAssertEqual(try JSONParser().parse(JSONWriter.string(v, pretty: pretty)), v)
        }
    }
}
