import Foundation
import XCTest
@testable import BloomCore

/// LinearRegex agrees with Swift's Regex (the reference: a full backtracking engine) on every pattern of the subset
/// over ASCII tensor names,
/// refuses what is outside it, and takes linear time where a backtracking engine takes exponential time.
final class LinearRegexTests: XCTestCase {
    static let names: [String] = {
        var out = ["token_embd.weight", "token_embd_norm.weight", "token_embd_norm.bias", "output_norm.weight",
                   "output.weight", "", "a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "blk.", "x\ny", "a.b-c_d"]
        for n in [0, 3, 9, 10, 29] {
            for stem in ["attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down"] {
                out += ["blk.\(n).\(stem).weight", "blk.\(n).\(stem).bias"]
            }
        }
        return out
    }()

    static let patterns = [
        "attn_qkv", "^blk\\.[0-9]+\\.ffn_down\\.weight$", "ffn_(up|down)", "blk\\.(1|2)\\d?\\.", "^output", "weight$",
        "^$", "", "a*", "a+b", "(a|a?)+b", "[^.]+\\.bias", "[a-f_]{3,5}", "b{2}", "blk\\.\\d{1,2}\\.attn",
        "(?:attn|ffn)_norm", ".", "x.y", "\\w+\\.\\w+", "\\s", "\\S+\\.bias$", "[.]", "[\\d]", "[-a]", "[a-]",
        "(^blk)|(weight$)", "norm\\.(weight|bias)$", "^(token_embd|output)\\.weight$", "a{0}", "(ab)*?c", "tok.*?embd",
        "[^a-z.]", "\\.\\d\\.", "blk\\.[02468]\\.", "((a))", "a|", "|b", "(|x)y",
    ]

    func testAgreesWithSwiftRegex() throws {
        for p in Self.patterns {
            let ours = try LinearRegex(p)
            let reference = try Regex(p)
            for name in Self.names {
                XCTAssertEqual(ours.matches(in: name), name.contains(reference), "'\(p)' on '\(name)'")
            }
        }
    }

    /// Classes are ASCII, as in std::regex (llama-quantize's engine); other scalars match themselves.
    func testNonASCIINamesMatchLiterally() throws {
        XCTAssertTrue(try LinearRegex("東京\\.w").matches(in: "Ġ東京.weight"))
        XCTAssertFalse(try LinearRegex("^\\w+\\.").matches(in: "東京.weight"))
        XCTAssertTrue(try LinearRegex("^[^a-z]+\\.").matches(in: "東京.weight"))
    }

    func testMalformedAndUnsupportedPatternsAreRefused() {
        for p in ["(", "(a", "a)", "[", "[a", "*a", "a**", "a{2", "a{3,1}", "a{2000}", "\\1", "a\\", "(?=a)", "(?i)a",
                  "^*", "[z-a]", "\\p{L}", "a{,}"] {
            XCTAssertThrowsError(try LinearRegex(p), p) { XCTAssertEqual(($0 as? BloomError)?.code, .invalidArgument) }
        }
    }

    func testCatastrophicPatternsRunInLinearTime() throws {
        let text = String(repeating: "a", count: 5000)
        let start = Date()
        for p in ["(a|a?)+(a|a?)+(a|a?)+b$", "(.*)*(.*)*(.*)*x$", "(a+)+b", "(a*)*b"] {
            XCTAssertFalse(try LinearRegex(p).matches(in: text), p)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "5000-character texts")
    }
}
