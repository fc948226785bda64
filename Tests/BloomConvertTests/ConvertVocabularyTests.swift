import BloomArch
import BloomCore
import BloomGGUF
import BloomTokenizer
import Foundation
import TestSupport
import XCTest
@testable import BloomConvert

/// The GGUF vocabulary against llama.cpp's converter (expected/gguf/llama-cpp-tiny-a-q8_0.gguf, convert_hf_to_gguf.py
/// on tiny-a) and against the runtime's tokenizer reading it back.
final class ConvertVocabularyTests: XCTestCase {
    private func tinyA() throws -> (folder: String, config: JSONValue, vocabSize: Int) {
        let folder = try Fixtures.path("models/tiny-a/st-bf16-sharded")
        let config = try JSONParser().parse(try String(contentsOfFile: folder + "/config.json", encoding: .utf8))
        return (folder, config, try XCTUnwrap(config["vocab_size"]?.int))
    }

    func testVocabularyIsWhatLlamaCppWrites() throws {
        let (folder, config, vocabSize) = try tinyA()
        let vocabulary = try ConvertVocabulary(folder: folder, vocabSize: vocabSize, config: config)
        let path = try Fixtures.path("expected/gguf/llama-cpp-tiny-a-q8_0.gguf")
        let m = try GGUFFile(path: path).metadata
        XCTAssertEqual(vocabulary.tokens, try m.stringArray(BloomGGUFKeys.tokens))
        XCTAssertEqual(vocabulary.tokenTypes, try m.int32Array(BloomGGUFKeys.tokenType))
        XCTAssertEqual(vocabulary.merges, try m.stringArray(BloomGGUFKeys.merges))
        XCTAssertEqual(vocabulary.bosID, try m.uint32(BloomGGUFKeys.bosTokenID))
        XCTAssertEqual(vocabulary.eosID, try m.uint32(BloomGGUFKeys.eosTokenID))
        XCTAssertEqual(vocabulary.unknownID, try m.uint32(BloomGGUFKeys.unknownTokenID))
        XCTAssertEqual(vocabulary.paddingID, try m.uint32(BloomGGUFKeys.paddingTokenID))
    }

    /// What convert writes, the runtime reads as the same tokenizer (same ids for the fixture texts, same specials).
    func testRuntimeReadsTheWrittenVocabularyAsTheFolderTokenizer() throws {
        let (folder, config, vocabSize) = try tinyA()
        let vocabulary = try ConvertVocabulary(folder: folder, vocabSize: vocabSize, config: config)
        let fromGGUF = try BloomTokenizer(ggufMetadata: GGUFMetadata(vocabulary.metadataEntries))
        let fromFolder = try BloomTokenizer(modelFolder: folder)
        XCTAssertEqual(fromGGUF.specialTokens, fromFolder.specialTokens)
        let cases = try Fixtures.json("expected/tokens.json")
        let texts = try XCTUnwrap(cases["texts"]?.array?.compactMap(\.string))
        XCTAssertFalse(texts.isEmpty)
        for text in texts + ["<s>Hello</s> <pad>world<unk>"] {
            XCTAssertEqual(fromGGUF.encode(text), fromFolder.encode(text), text)
        }
    }

    /// special_tokens_map.json names a role first (as transformers loads it), tokenizer_config.json fills what it
    /// leaves out, config.json's ids the rest (as gguf-py's SpecialVocab falls back on them).
    func testSpecialTokenPrecedence() throws {
        let (source, config, vocabSize) = try tinyA()
        let folder = try TempDir("convert-vocabulary")
        try FileManager.default.copyItem(atPath: source + "/tokenizer.json", toPath: folder.path + "/tokenizer.json")
        try Data(#"{"eos_token": "<pad>"}"#.utf8)
            .write(to: folder.url.appendingPathComponent("special_tokens_map.json"))
        try Data(#"{"eos_token": "</s>", "bos_token": {"content": "</s>"}}"#.utf8)
            .write(to: folder.url.appendingPathComponent("tokenizer_config.json"))
        let tokenizer = try BloomTokenizer(tokenizerJSONPath: folder.path + "/tokenizer.json")
        let vocabulary = try ConvertVocabulary(folder: folder.path, vocabSize: vocabSize, config: config)
        func id(_ token: String) -> UInt32? { tokenizer.id(for: token).flatMap { UInt32(exactly: $0) } }
        func configID(_ key: String) -> UInt32? { config[key]?.int.flatMap { UInt32(exactly: $0) } }
        XCTAssertNotNil(id("<pad>"))
        XCTAssertNotEqual(id("<pad>"), id("</s>"))
        XCTAssertEqual(vocabulary.eosID, id("<pad>"))
        XCTAssertEqual(vocabulary.bosID, id("</s>"))
        XCTAssertNotNil(configID("unk_token_id"))
        XCTAssertEqual(vocabulary.unknownID, configID("unk_token_id"))
        XCTAssertEqual(vocabulary.paddingID, configID("pad_token_id"))
        let bare = try ConvertVocabulary(folder: folder.path, vocabSize: vocabSize)
        XCTAssertNil(bare.unknownID)
        XCTAssertNil(bare.paddingID)
    }

    func testRefusesWhatTheRuntimeWouldRefuse() throws {
        let (source, _, vocabSize) = try tinyA()
        let folder = try TempDir("convert-vocabulary")
        let json = try JSONParser().parse(try String(contentsOfFile: source + "/tokenizer.json", encoding: .utf8))
        func write(_ value: JSONValue) throws {
            try Data(JSONWriter.string(value).utf8).write(to: folder.url.appendingPathComponent("tokenizer.json"))
        }
        guard case .object(var pairs) = json, let i = pairs.firstIndex(where: { $0.0 == "normalizer" }) else {
            return XCTFail("the fixture tokenizer.json has no normalizer key")
        }
        pairs[i].1 = .object([("type", .string("NFC"))])
        try write(.object(pairs))
        assertBloomError(.unsupported) { try ConvertVocabulary(folder: folder.path, vocabSize: vocabSize) }
        try write(json)
        XCTAssertNoThrow(try ConvertVocabulary(folder: folder.path, vocabSize: vocabSize))
        let ids = try BloomTokenizer(tokenizerJSONPath: folder.path + "/tokenizer.json").vocabularySize
        XCTAssertNoThrow(try ConvertVocabulary(folder: folder.path, vocabSize: ids))
        assertBloomError(.invalidArgument) { try ConvertVocabulary(folder: folder.path, vocabSize: ids - 1) }
    }
}
