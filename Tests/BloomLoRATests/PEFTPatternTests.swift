import BloomCore
@testable import BloomLoRA
import XCTest

/// `get_pattern_key` semantics: `re.match(rf"(.*\.)?({key})$", name)`, first key in config order wins.
final class PEFTPatternTests: XCTestCase {
    let qkv0 = "transformer.h.0.self_attention.query_key_value"

    func testSuffixOnDotBoundaries() throws {
        XCTAssertEqual(try PEFTPattern.matchingKey(["h.0.self_attention.query_key_value"], for: qkv0), "h.0.self_attention.query_key_value")
        XCTAssertEqual(try PEFTPattern.matchingKey(["query_key_value"], for: qkv0), "query_key_value")
        XCTAssertEqual(try PEFTPattern.matchingKey([qkv0], for: qkv0), qkv0)
        // Not on a dot boundary: "ey_value" is a suffix of the string but not of a dotted component.
        XCTAssertNil(try PEFTPattern.matchingKey(["ey_value"], for: qkv0))
        // "h.1.mlp…" must not catch layer 11 (the dots are regex wildcards, yet the boundary still holds).
        XCTAssertNil(try PEFTPattern.matchingKey(["h.1.mlp.dense_h_to_4h"], for: "transformer.h.11.mlp.dense_h_to_4h"))
        XCTAssertNotNil(try PEFTPattern.matchingKey(["h.1.mlp.dense_h_to_4h"], for: "transformer.h.1.mlp.dense_h_to_4h"))
        // "dense" names the attention output only; dense_h_to_4h ends with another component.
        XCTAssertNil(try PEFTPattern.matchingKey(["dense"], for: "transformer.h.0.mlp.dense_h_to_4h"))
        XCTAssertNotNil(try PEFTPattern.matchingKey(["dense"], for: "transformer.h.0.self_attention.dense"))
    }

    func testRegexKeysAndOrder() throws {
        // Alternation stays inside the group; anchors work on the whole name.
        XCTAssertEqual(try PEFTPattern.matchingKey(["dense|query_key_value"], for: qkv0), "dense|query_key_value")
        XCTAssertEqual(try PEFTPattern.matchingKey([#"^transformer\.h\.\d+\.self_attention\.query_key_value"#], for: qkv0),
                       #"^transformer\.h\.\d+\.self_attention\.query_key_value"#)
        XCTAssertNil(try PEFTPattern.matchingKey(["^h.0.self_attention.query_key_value"], for: qkv0))
        // First matching key in config order wins, not the most specific one.
        XCTAssertEqual(try PEFTPattern.matchingKey(["query_key_value", "h.0.self_attention.query_key_value"], for: qkv0), "query_key_value")
        let pattern: [(key: String, value: Int)] = [("query_key_value", 4), ("h.0.self_attention.query_key_value", 6)]
        XCTAssertEqual(try PEFTPattern.value(in: pattern, for: qkv0), 4)
        XCTAssertNil(try PEFTPattern.value(in: pattern, for: "transformer.h.0.self_attention.dense"))
    }

    func testInvalidRegexIsAnError() {
        XCTAssertThrowsError(try PEFTPattern.matchingKey(["(unclosed"], for: qkv0)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .loraInvalidAdapter)
        }
    }

    func testAdapterKeyForms() throws {
        let p = "base_model.model.transformer.h.0.self_attention.query_key_value"
        XCTAssertEqual(try AdapterKey(p + ".lora_A.weight"), .factor(module: "transformer.h.0.self_attention.query_key_value", isA: true))
        XCTAssertEqual(try AdapterKey(p + ".lora_B.default.weight"), .factor(module: "transformer.h.0.self_attention.query_key_value", isA: false))
        XCTAssertEqual(try AdapterKey(p + ".base_layer.bias"), .replacement(parameter: "transformer.h.0.self_attention.query_key_value.bias"))
        XCTAssertEqual(try AdapterKey(p + ".bias"), .replacement(parameter: "transformer.h.0.self_attention.query_key_value.bias"))
        XCTAssertEqual(try AdapterKey("base_model.model.lm_head.modules_to_save.default.weight"), .replacement(parameter: "lm_head.weight"))
        guard case .unsupported = try AdapterKey(p + ".lora_magnitude_vector") else { return XCTFail("DoRA vector accepted") }
        guard case .unsupported = try AdapterKey(p + ".lora_B.bias") else { return XCTFail("lora_bias accepted") }
        guard case .unsupported = try AdapterKey("base_model.model.transformer.word_embeddings.lora_embedding_A") else {
            return XCTFail("embedding LoRA accepted")
        }
    }
}
