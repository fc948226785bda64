import BloomCore
import Foundation
import TestSupport
import XCTest
@testable import BloomArch

final class BloomConfigTests: XCTestCase {
    /// The fixtures' config.json files, written by transformers' BloomConfig.save_pretrained.
    func testReadsTheFixtureConfigs() throws {
        for (relative, hidden, layers, heads, dtype) in [
            ("models/tiny-a/st-bf16-sharded/config.json", 64, 2, 4, "bfloat16" as String?),
            ("models/tiny-b/bin-f32-lmhead/config.json", 96, 3, 6, nil),
        ] {
            let path = try Fixtures.path(relative)
            let config = try BloomConfig(path: path)
            let json = try JSONParser().parse(try String(contentsOfFile: path, encoding: .utf8))
            XCTAssertEqual(config.hiddenSize, json["hidden_size"]?.int)
            XCTAssertEqual(config.layerCount, json["n_layer"]?.int)
            XCTAssertEqual(config.headCount, json["n_head"]?.int)
            XCTAssertEqual(config.vocabSize, json["vocab_size"]?.int)
            XCTAssertEqual(config.layerNormEpsilon, json["layer_norm_epsilon"]?.double)
            XCTAssertEqual(config.padTokenID, json["pad_token_id"]?.int)
            XCTAssertEqual(config.unkTokenID, json["unk_token_id"]?.int)
            XCTAssertEqual(config.bosTokenID, json["bos_token_id"]?.int)
            XCTAssertEqual(config.eosTokenID, json["eos_token_id"]?.int)
            XCTAssertEqual([config.hiddenSize, config.layerCount, config.headCount], [hidden, layers, heads], relative)
            if let dtype { XCTAssertEqual(config.dtype, dtype) }
            XCTAssertTrue(config.tieWordEmbeddings)
            XCTAssertFalse(config.applyResidualConnectionPostLayernorm)
        }
    }

    func testAliasesAndDefaults() throws {
        let config = try BloomConfig(json: JSONParser().parse(
            #"{"n_embed": 128, "num_hidden_layers": 3, "num_attention_heads": 8, "vocab_size": 100, "# +
            #""torch_dtype": "float16", "eos_token_id": [5, 6], "pad_token_id": null}"#))
        XCTAssertEqual(config, BloomConfig(hiddenSize: 128, layerCount: 3, headCount: 8, vocabSize: 100, eosTokenID: 5,
                                           dtype: "float16"))
        XCTAssertEqual(config.headDim, 16)
        XCTAssertEqual(config.ffnSize, 512)
    }

    func testRefusesInconsistentConfigs() throws {
        let base = #""vocab_size": 100, "n_layer": 2"#
        let cases: [(String, String)] = [
            (#"{"hidden_size": 64, "n_embed": 32, "n_head": 4, \#(base)}"#, "n_embed"),
            (#"{"hidden_size": 64, "n_head": 5, \#(base)}"#, "n_head"),
            (#"{"hidden_size": 64, \#(base)}"#, "n_head"),
            (#"{"hidden_size": 0, "n_head": 4, \#(base)}"#, "hidden_size"),
            (#"{"hidden_size": "64", "n_head": 4, \#(base)}"#, "hidden_size"),
            (#"{"hidden_size": 64, "n_head": 4, "layer_norm_epsilon": -1, \#(base)}"#, "layer_norm_epsilon"),
            // positive in f64, zero in f32 (found by fuzz-config: the error came later, from the converter, without the
            // file)
            (#"{"hidden_size": 64, "n_head": 4, "layer_norm_epsilon": 1e-95, \#(base)}"#, "layer_norm_epsilon"),
            (#"{"hidden_size": 64, "n_head": 4, "model_type": "llama", \#(base)}"#, "model_type"),
            (#"{"hidden_size": 64, "n_head": 4, "tie_word_embeddings": 1, \#(base)}"#, "tie_word_embeddings"),
            (#"{"hidden_size": 64, "n_head": 4, "vocab_size": 100, "n_layer": 100000}"#, "n_layer"),
        ]
        for (text, key) in cases {
            XCTAssertThrowsError(try BloomConfig(json: JSONParser().parse(text)), text) { error in
                XCTAssertEqual((error as? BloomError)?.code, .bloomConfig, text)
                XCTAssertEqual((error as? BloomError)?.location, "key '\(key)'", text)
            }
        }
    }
}
