@testable import BloomTokenizer
import TestSupport
import XCTest

/// BLOOM's Split regex, matched by hand: its `\s` and its pieces.
final class PreTokenizerTests: XCTestCase {
    /// Oniguruma's Unicode `\s` is the White_Space property: compare with Swift's Unicode tables on every scalar.
    func testWhitespaceIsTheUnicodeWhiteSpaceProperty() {
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            XCTAssertEqual(BloomPreTokenizer.isWhitespace(value), scalar.properties.isWhitespace,
                           "U+\(String(value, radix: 16))")
            if BloomPreTokenizer.isWhitespace(value) { XCTAssertTrue(BloomPreTokenizer.isExcluded(value)) }
        }
    }

    /// The excluded class is `\s` plus the literals of the pattern's class, read from the pattern text (which the
    /// loader requires tokenizer.json to hold): in Oniguruma the inner `[...]` is a nested class, so `(`, `|` and `)`
    /// are literals and the brackets are not.
    func testExcludedClassIsThePatternsClass() throws {
        let pattern = BloomPreTokenizer.pattern
        let preTokenizer = try Fixtures.json(atPath: Fixtures.tokenizerJSON)["pre_tokenizer"]
        XCTAssertEqual(preTokenizer?["pretokenizers"]?.array?.first?["pattern"]?["Regex"]?.string, pattern)
        let body = try XCTUnwrap(pattern.split(separator: "[^", maxSplits: 1).last?.dropLast(2))  // drop the outer "]+"
        XCTAssertTrue(body.contains("\\s"))
        let literals = Set(body.replacingOccurrences(of: "\\s", with: "").unicodeScalars
            .filter { $0 != "[" && $0 != "]" }.map(\.value))
        XCTAssertTrue(literals.isSuperset(of: ["(", "|", ")"].map { Unicode.Scalar($0).value }))
        for value in UInt32(0)...0x10FFFF where Unicode.Scalar(value) != nil {
            XCTAssertEqual(BloomPreTokenizer.isExcluded(value),
                           BloomPreTokenizer.isWhitespace(value) || literals.contains(value),
                           "U+\(String(value, radix: 16))")
        }
    }

    /// Pieces are what ` ?[^excluded]+` with Isolated gives: they cover the text in order; a match is an optional
    /// space and a run of non-excluded characters; a gap holds excluded characters only; a match ends where an
    /// excluded character follows; a space before a run always joins it.
    func testPiecesFollowTheRegex() throws {
        var rng = SplitMix64(seed: 3)
        let alphabet: [Character] = ["a", "b", "é", "日", "🍕", " ", " ", "\t", "\n", ".", ",", "!", "?", "(", ")", "|",
                                     "…", "。", "，", "、", "।", "۔", "،", "\u{A0}", "\u{3000}", "\u{2028}", "\u{200B}",
                                     "x"]
        for _ in 0..<3000 {
            var text = String((0..<Int.random(in: 0..<30,
                                              using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            let pieces: [String] = text.withUTF8 { buffer in
                var out: [String] = []
                BloomPreTokenizer.forEachPiece(in: buffer, 0..<buffer.count) { out.append(String(decoding: buffer[$0],
                                                                                                 as: UTF8.self)) }
                return out
            }
            XCTAssertEqual(pieces.joined(), text)
            let excluded = { (s: Unicode.Scalar) in BloomPreTokenizer.isExcluded(s.value) }
            for (k, piece) in pieces.enumerated() {
                XCTAssertFalse(piece.isEmpty)
                var body = Substring(piece).unicodeScalars
                let isMatch = piece.unicodeScalars.contains { !excluded($0) }
                if isMatch {
                    if body.first == " " { body = body.dropFirst() }
                    XCTAssertFalse(body.contains(where: excluded),
                                   "match \(piece.debugDescription) in \(text.debugDescription)")
                    if k + 1 < pieces.count, let next = pieces[k + 1].unicodeScalars.first {
                        XCTAssertTrue(excluded(next) || next == " ", "run not maximal in \(text.debugDescription)")
                    }
                } else if k + 1 < pieces.count, piece.unicodeScalars.last == " " {
                    XCTAssertEqual(pieces[k + 1].unicodeScalars.first, " ",
                                   "a space left out of the run after it in \(text.debugDescription)")
                }
            }
        }
    }
}
