@testable import BloomTokenizer
import TestSupport
import XCTest

/// The streaming decoder never splits a character and always adds up to the full decode.
final class StreamingDecoderTests: XCTestCase {
    private func stream(_ tokenizer: BloomTokenizer, _ ids: [TokenID], skipSpecialTokens: Bool = false) -> [String] {
        var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: skipSpecialTokens)
        return ids.map { decoder.append($0) } + [decoder.finish()]
    }

    func testEncodedTextsStreamWithoutReplacementCharacters() throws {
        let tokenizer = try BloomTokenizer(modelFolder: Fixtures.tokenizerFolder)
        let texts = randomTexts(1000, seed: 23)
        var split = 0
        for text in texts {
            let ids = tokenizer.encode(text)
            let chunks = stream(tokenizer, ids)
            XCTAssertEqual(chunks.joined(), text)
            for chunk in chunks where !text.unicodeScalars.contains("\u{FFFD}") {
                XCTAssertFalse(chunk.unicodeScalars.contains("\u{FFFD}"),
                               "a chunk of \(text.debugDescription) split a character")
            }
            // Count the texts where a character really was spread over several tokens, so the test is not vacuous.
            if ids.contains(where: { id in tokenizer.bytes(of: id).map { String(validating: Array($0),
                                                                                as: UTF8.self) == nil } ?? false }) {
                split += 1
            }
        }
        XCTAssertGreaterThan(split, texts.count / 4)
    }

    func testRandomIdsStreamToTheFullDecode() throws {
        let tokenizer = try BloomTokenizer(modelFolder: Fixtures.tokenizerFolder)
        var rng = SplitMix64(seed: 5)
        for _ in 0..<2000 {
            // Ids past the vocabulary too: they decode to nothing.
            let ids = (0..<Int.random(in: 0..<24, using: &rng)).map { _ in
                TokenID.random(in: 0..<TokenID(tokenizer.vocabularySize + 4), using: &rng)
            }
            XCTAssertEqual(stream(tokenizer, ids).joined(), tokenizer.decode(ids), "\(ids)")
            XCTAssertEqual(stream(tokenizer, ids, skipSpecialTokens: true).joined(),
                           tokenizer.decode(ids, skipSpecialTokens: true))
        }
    }

    /// Random bytes (biased towards UTF-8 lead and continuation bytes) fed in random chunks: what is returned adds up
    /// to the lossy decode of all bytes, and at most 3 bytes are ever held back.
    func testPrefixSplittingMatchesWholeDecode() {
        var rng = SplitMix64(seed: 11)
        let interesting: [UInt8] = [0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF,
                                    0xF0, 0xF1, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0..<12, using: &rng)).map { _ in
                Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255,
                                                                                                  using: &rng)
            }
            var pending: [UInt8] = []
            var out = ""
            var i = 0
            while i < bytes.count {
                let n = Int.random(in: 1...3, using: &rng)
                pending += bytes[i..<min(bytes.count, i + n)]
                i += n
                let ready = StreamingDecoder.completePrefixLength(pending)
                XCTAssertLessThanOrEqual(pending.count - ready, 3)
                out += String(decoding: pending[..<ready], as: UTF8.self)
                pending.removeFirst(ready)
            }
            out += String(decoding: pending, as: UTF8.self)
            XCTAssertEqual(out, String(decoding: bytes, as: UTF8.self), "\(bytes)")
        }
    }
}
