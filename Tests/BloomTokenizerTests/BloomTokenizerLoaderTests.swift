import BloomArch
import BloomCore
import BloomGGUF
@testable import BloomTokenizer
import TestSupport
import XCTest

/// tokenizer.json and GGUF loading: both merge formats, and a malformed-input matrix asserting the error code.
final class BloomTokenizerLoaderTests: XCTestCase {
    private func fixtureJSON() throws -> JSONValue { try Fixtures.json(atPath: Fixtures.tokenizerJSON) }

    /// Legacy "a b" merges give the same tokenizer as the pair format the fixture uses.
    func testLegacyMergeStringsEqualPairs() throws {
        let json = try fixtureJSON()
        let pairs = try XCTUnwrap(json["model"]?["merges"]?.array)
        let strings = try pairs.map { m -> JSONValue in
            let parts = try XCTUnwrap(m.array).map { try XCTUnwrap($0.string) }
            return .string(parts.joined(separator: " "))
        }
        let legacy = try BloomTokenizer(tokenizerJSON: json.setting(["model", "merges"],
                                                                    to: .array([.string("#version: 0.2")] + strings)))
        let current = try BloomTokenizer(tokenizerJSON: json)
        for text in randomTexts(500, seed: 17) {
            XCTAssertEqual(legacy.encode(text), current.encode(text), text)
        }
    }

    func testRefusesWhatIsNotBLOOMsPipeline() throws {
        let json = try fixtureJSON()
        let cases: [(String, [String], JSONValue?)] = [
            ("version", ["version"], .string("2.0")),
            ("normalizer", ["normalizer"], .object([("type", .string("NFC"))])),
            ("truncation", ["truncation"], .object([("max_length", .int(8))])),
            ("regex", ["pre_tokenizer", "pretokenizers"], .array([])),
            ("pre_tokenizer", ["pre_tokenizer"], nil),
            ("decoder", ["decoder"], .null),
            ("post_processor", ["post_processor"], .object([("type", .string("TemplateProcessing"))])),
            ("model type", ["model", "type"], .string("WordPiece")),
            ("byte_fallback", ["model", "byte_fallback"], .bool(true)),
            ("ignore_merges", ["model", "ignore_merges"], .bool(true)),
            ("dropout", ["model", "dropout"], .string("0.1")),
            ("prefix", ["model", "continuing_subword_prefix"], .string("##")),
        ]
        for (name, path, value) in cases {
            assertBloomError(.unsupported, name) { try BloomTokenizer(tokenizerJSON: json.setting(path, to: value)) }
        }
        let split = try XCTUnwrap(json["pre_tokenizer"]?["pretokenizers"]?.array?.first)
        let otherRegex = split.setting(["pattern", "Regex"], to: .string(" ?[^\\s]+"))
        let steps = try XCTUnwrap(json["pre_tokenizer"]?["pretokenizers"]?.array)
        assertBloomError(.unsupported) {
            try BloomTokenizer(tokenizerJSON: json.setting(["pre_tokenizer", "pretokenizers"],
                                                           to: .array([otherRegex, steps[1]])))
        }
    }

    func testRefusesInconsistentVocabularies() throws {
        let json = try fixtureJSON()
        let vocab = try XCTUnwrap(json["model"]?["vocab"]?.object)
        let merges = try XCTUnwrap(json["model"]?["merges"]?.array)
        let cases: [(String, BloomError.Code, JSONValue)] = [
            ("merge of a missing token", .invalidTokenizer,
             json.setting(["model", "merges"],
                          to: .array(merges + [.array([.string("Ġ"), .string("no-such-token")])]))),
            ("merged token missing", .invalidTokenizer,
             json.setting(["model", "merges"], to: .array(merges + [.array([.string("a"), .string("<s>")])]))),
            ("merge of three parts", .invalidTokenizer,
             json.setting(["model", "merges"], to: .array([.string("a b c")]))),
            ("merge of one string in an array", .invalidTokenizer,
             json.setting(["model", "merges"], to: .array([.array([.string("a")])]))),
            ("fractional id", .invalidTokenizer, json.setting(["model", "vocab", vocab[5].0], to: .number("5.5"))),
            ("negative id", .limitExceeded, json.setting(["model", "vocab", vocab[5].0], to: .int(-1))),
            ("huge id", .limitExceeded, json.setting(["model", "vocab", vocab[5].0], to: .int(1 << 30))),
            ("duplicate id", .invalidTokenizer, json.setting(["model", "vocab", vocab[5].0], to: vocab[6].1)),
            ("no vocab", .invalidTokenizer, json.setting(["model", "vocab"], to: nil)),
            ("unknown token not in vocab", .invalidTokenizer,
             json.setting(["model", "unk_token"], to: .string("<nope>"))),
            ("added token without content", .invalidTokenizer,
             json.setting(["added_tokens"], to: .array([.object([("id", .int(0))])]))),
            ("not an object", .invalidTokenizer, .array([])),
        ]
        for (name, code, value) in cases {
            assertBloomError(code, name) { try BloomTokenizer(tokenizerJSON: value) }
        }
    }

    func testFileErrorsNameThePath() throws {
        let folder = try TempDir("tokenizer-tests")
        let path = folder.file("tokenizer.json")
        let text = try String(contentsOfFile: Fixtures.tokenizerJSON, encoding: .utf8)
        try String(text.prefix(text.count / 2)).write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try BloomTokenizer(tokenizerJSONPath: path)
            XCTFail("a truncated tokenizer.json loaded")
        } catch let error as BloomError {
            XCTAssertEqual(error.code, .invalidJSON)
            XCTAssertEqual(error.path, path)
        }
        assertBloomError(.io) { try BloomTokenizer(tokenizerJSONPath: folder.file("missing.json")) }
        assertBloomError(.io) { try BloomTokenizer(modelFolder: folder.file("nowhere")) }
    }

    /// The plain-array initializer (the GGUF form) checks what it is given.
    func testArrayInitializerRefusesBadArrays() {
        let tokens = (0..<256).map { ByteLevel.spelling(of: [UInt8($0)]) } + ["<s>"]
        assertBloomError(.invalidTokenizer, "types count") {
            try BloomTokenizer(tokens: tokens, tokenTypes: [1, 1], merges: [], specialTokens: .init())
        }
        assertBloomError(.invalidTokenizer, "type 9") {
            try BloomTokenizer(tokens: tokens, tokenTypes: Array(repeating: 1, count: 256) + [9], merges: [],
                               specialTokens: .init())
        }
        assertBloomError(.invalidTokenizer, "duplicate token") {
            try BloomTokenizer(tokens: tokens + ["<s>"], tokenTypes: [], merges: [], specialTokens: .init())
        }
        assertBloomError(.invalidTokenizer, "merge result missing") {
            try BloomTokenizer(tokens: tokens, tokenTypes: [], merges: [("a", "b")], specialTokens: .init())
        }
        // Canonically equivalent but different spellings are different tokens (compared by bytes, as tokenizers does).
        XCTAssertNoThrow(try BloomTokenizer(tokens: tokens + ["\u{E9}x", "e\u{301}x"], tokenTypes: [], merges: [],
                                            specialTokens: .init()))
    }

    func testGGUFMetadataErrors() throws {
        let tokens = (0..<256).map { ByteLevel.spelling(of: [UInt8($0)]) } + ["ab"]
        let good: [(String, GGUFValue)] = [
            (BloomGGUFKeys.tokenizerModel, .string("gpt2")), (BloomGGUFKeys.tokenizerPre, .string("bloom")),
            (BloomGGUFKeys.tokens, .array(.string(tokens))), (BloomGGUFKeys.merges, .array(.string(["a b"]))),
            (BloomGGUFKeys.eosTokenID, .uint32(2)),
        ]
        func load(_ change: (inout GGUFMetadata) -> Void) throws -> BloomTokenizer {
            var metadata = try GGUFMetadata(good)
            change(&metadata)
            let folder = try TempDir("tokenizer-tests")
            let path = folder.file("t.gguf")
            try GGUFWriter(path: path, metadata: metadata, tensors: []).commit()
            return try BloomTokenizer(gguf: GGUFFile(path: path))
        }
        let tokenizer = try load { _ in }
        XCTAssertEqual(tokenizer.encode("xaby"), [TokenID(UInt8(ascii: "x")), 256, TokenID(UInt8(ascii: "y"))])
        XCTAssertEqual(tokenizer.specialTokens.eos, 2)
        assertBloomError(.unsupported) { try load { $0.set(BloomGGUFKeys.tokenizerModel, .string("llama")) } }
        assertBloomError(.unsupported) { try load { $0.set(BloomGGUFKeys.tokenizerPre, .string("gpt-2")) } }
        assertBloomError(.ggufMissingKey) { try load { $0.remove(BloomGGUFKeys.tokens) } }
        assertBloomError(.ggufWrongType) { try load { $0.set(BloomGGUFKeys.tokens, .array(.int32([1]))) } }
        assertBloomError(.ggufWrongType) { try load { $0.set(BloomGGUFKeys.eosTokenID, .int32(2)) } }
        assertBloomError(.invalidTokenizer) { try load { $0.set(BloomGGUFKeys.eosTokenID, .uint32(257)) } }
        assertBloomError(.invalidTokenizer) { try load { $0.set(BloomGGUFKeys.merges, .array(.string(["ab"]))) } }
        XCTAssertNoThrow(try load { $0.remove(BloomGGUFKeys.tokenizerPre) }, "files from before llama.cpp wrote 'pre'")
    }
}
