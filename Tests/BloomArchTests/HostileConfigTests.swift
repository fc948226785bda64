import BloomArch
import BloomCore
import Foundation
import TestSupport
import XCTest

/// config.json values a stranger's file can hold that BloomConfigTests does not: numbers past every integer type,
/// infinities, deep nesting; each refused with its code and the path, never trapping on a conversion.
final class HostileConfigTests: XCTestCase {
    func expect(_ code: BloomError.Code, _ text: String, _ what: String, line: UInt = #line) throws {
        let folder = try TempDir("hostile-config")
        let url = URL(fileURLWithPath: try folder.write("config.json", text))
        XCTAssertThrowsError(try BloomConfig(path: url.path), what, line: line) { error in
            let e = error as? BloomError
            XCTAssertEqual(e?.code, code, "\(what): \(error)", line: line)
            XCTAssertEqual(e?.path, url.path, "\(what): \(error)", line: line)
        }
    }

    func testNumbersPastEveryIntegerTypeAndInfinities() throws {
        let sizes = #""n_head": 4, "vocab_size": 100, "n_layer": 2"#
        try expect(.bloomConfig, #"{"hidden_size": 1e300, \#(sizes)}"#, "hidden_size 1e300")
        try expect(.bloomConfig, #"{"hidden_size": 18446744073709551616, \#(sizes)}"#, "hidden_size 2^64")
        try expect(.bloomConfig, #"{"hidden_size": -9223372036854775808, \#(sizes)}"#, "hidden_size Int.min")
        try expect(.bloomConfig, #"{"hidden_size": 64, "n_head": 4, "vocab_size": 9223372036854775807, "n_layer": 2}"#,
                   "vocab Int.max")
        try expect(.bloomConfig, #"{"hidden_size": 64, "layer_norm_epsilon": 1e999, \#(sizes)}"#, "an infinite epsilon")
        try expect(.bloomConfig, #"{"hidden_size": 64, "bos_token_id": -1, \#(sizes)}"#, "a negative token id")
        try expect(.bloomConfig, #"{"hidden_size": 64, "eos_token_id": [], \#(sizes)}"#, "an empty eos list")
        try expect(.bloomConfig, "[]", "a list")
    }

    func testMalformedAndDeepFilesNameThePath() throws {
        try expect(.invalidJSON, #"{"hidden_size": 64,}"#, "a trailing comma")
        try expect(.limitExceeded, String(repeating: "[", count: 100_000), "100000 nested arrays")
        try expect(.invalidJSON, "", "an empty file")
    }
}
