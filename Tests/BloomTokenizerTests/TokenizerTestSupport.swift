import BloomCore
import BloomTokenizer
import Foundation
import TestSupport
import XCTest

/// The fixture tokenizer and the expected ids of the tokenizer tests.
extension Fixtures {
    static var tokenizerFolder: String { root + "/tokenizer" }
    static var tokenizerJSON: String { tokenizerFolder + "/tokenizer.json" }

    /// texts, ids and decoded texts from expected/tokens.json or expected/tokens-random.json (HF tokenizers' output).
    struct Corpus {
        var texts: [String]
        var ids: [[TokenID]]
        var decoded: [String]
    }

    /// The corpus, or a skip while the fixture generator's expected ids have not landed in this checkout.
    static func corpus(_ name: String) throws -> Corpus {
        let root = try json("expected/\(name)")
        let texts = try XCTUnwrap(root["texts"]?.array).map { try XCTUnwrap($0.string) }
        let ids = try XCTUnwrap(root["ids"]?.array).map { list in
            try XCTUnwrap(list.array).map { try XCTUnwrap($0.int.flatMap { TokenID(exactly: $0) }) }
        }
        let decoded = try XCTUnwrap(root["decoded"]?.array).map { try XCTUnwrap($0.string) }
        XCTAssertEqual(texts.count, ids.count)
        XCTAssertEqual(texts.count, decoded.count)
        return Corpus(texts: texts, ids: ids, decoded: decoded)
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
