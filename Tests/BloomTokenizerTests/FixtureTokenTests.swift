import BloomArch
import BloomCore
import BloomGGUF
@testable import BloomTokenizer
import TestSupport
import XCTest

/// Ids and decoded text against Hugging Face tokenizers' output for the fixture tokenizer (expected/tokens*.json).
final class FixtureTokenTests: XCTestCase {
    func testFixtureTextsEncodeAndDecodeAsHuggingFace() throws {
        try check(Fixtures.corpus("tokens.json"))
    }

    func testRandomCorpusEncodesAndDecodesAsHuggingFace() throws {
        try check(Fixtures.corpus("tokens-random.json"))
    }

    private func check(_ corpus: Fixtures.Corpus, file: StaticString = #filePath, line: UInt = #line) throws {
        let tokenizer = try BloomTokenizer(modelFolder: Fixtures.tokenizerFolder)
        var mismatches = 0
        for (index, text) in corpus.texts.enumerated() {
            let ids = tokenizer.encode(text)
            if ids != corpus.ids[index] {
                mismatches += 1
                if mismatches <= 5 {
                    XCTFail("text \(index) \(text.debugDescription): \(ids) != \(corpus.ids[index])", file: file,
                            line: line)
                }
            }
            XCTAssertEqual(tokenizer.decode(corpus.ids[index]), corpus.decoded[index], "text \(index)", file: file,
                           line: line)
            XCTAssertEqual(tokenizer.decode(ids), text, "round trip of text \(index)", file: file, line: line)
        }
        XCTAssertEqual(mismatches, 0, "\(mismatches) of \(corpus.texts.count) texts differ", file: file, line: line)
    }

    func testModelFolderNamesTheSpecialTokens() throws {
        let tokenizer = try BloomTokenizer(modelFolder: Fixtures.tokenizerFolder)
        let map = try Fixtures.json(atPath: Fixtures.tokenizerFolder + "/special_tokens_map.json")
        let expected: [TokenID?] = try ["bos_token", "eos_token", "unk_token", "pad_token"].map { key in
            tokenizer.id(for: try XCTUnwrap(map[key]?.string ?? map[key]?["content"]?.string))
        }
        let special = tokenizer.specialTokens
        XCTAssertEqual([special.bos, special.eos, special.unknown, special.padding], expected)
        XCTAssertFalse(expected.contains(nil))
        for case let id? in expected {
            XCTAssertTrue(tokenizer.isSpecial(id))
            XCTAssertEqual(tokenizer.decode([id], skipSpecialTokens: true), "")
        }
    }

    /// The same tokenizer written as GGUF metadata the way llama.cpp's converter writes it (tokens by id padded with
    /// UNUSED `[PAD{id}]`, specials CONTROL, merges "a b") gives the same ids and text as from tokenizer.json
    /// (which the corpus tests above hold to Hugging Face's ids).
    func testGGUFMetadataGivesTheSameTokens() throws {
        let fromJSON = try BloomTokenizer(modelFolder: Fixtures.tokenizerFolder)
        let padded = fromJSON.vocabularySize + 36
        var tokens: [String] = []
        var types: [Int32] = []
        for id in 0..<TokenID(padded) {
            if let token = fromJSON.token(for: id) {
                tokens.append(token)
                types.append(fromJSON.isSpecial(id) ? GGUFTokenType.control.rawValue : GGUFTokenType.normal.rawValue)
            } else {
                tokens.append("[PAD\(id)]")
                types.append(GGUFTokenType.unused.rawValue)
            }
        }
        let json = try Fixtures.json(atPath: Fixtures.tokenizerJSON)
        let merges = try XCTUnwrap(json["model"]?["merges"]?.array).map { m -> String in
            if let line = m.string { return line }
            return try XCTUnwrap(m.array).map { try XCTUnwrap($0.string) }.joined(separator: " ")
        }
        let special = fromJSON.specialTokens
        let metadata = try GGUFMetadata([
            (BloomGGUFKeys.tokenizerModel, .string("gpt2")), (BloomGGUFKeys.tokenizerPre, .string("bloom")),
            (BloomGGUFKeys.tokens, .array(.string(tokens))), (BloomGGUFKeys.tokenType, .array(.int32(types))),
            (BloomGGUFKeys.merges, .array(.string(merges))),
            (BloomGGUFKeys.bosTokenID, .uint32(UInt32(try XCTUnwrap(special.bos)))),
            (BloomGGUFKeys.eosTokenID, .uint32(UInt32(try XCTUnwrap(special.eos)))),
        ])
        let folder = try TempDir("tokenizer-tests")
        let path = folder.file("tokenizer.gguf")
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: [])
        try writer.commit()

        let fromGGUF = try BloomTokenizer(gguf: GGUFFile(path: path))
        XCTAssertEqual(fromGGUF.vocabularySize, padded)
        XCTAssertEqual(fromGGUF.specialTokens.bos, special.bos)
        XCTAssertEqual(fromGGUF.specialTokens.eos, special.eos)
        XCTAssertNil(fromGGUF.token(for: TokenID(padded - 1)), "UNUSED padding is not part of the tokenizer")
        XCTAssertEqual(fromGGUF.decode([TokenID(padded - 1)]), "")
        for text in randomTexts(1000, seed: 29) {
            let ids = fromJSON.encode(text)
            XCTAssertEqual(fromGGUF.encode(text), ids, text.debugDescription)
            XCTAssertEqual(fromGGUF.decode(ids), text)
        }
    }
}
