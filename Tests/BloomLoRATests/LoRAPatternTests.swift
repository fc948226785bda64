import BloomCheckpoint
import BloomCore
import XCTest

/// The per-module rank and alpha the merge uses: PEFT's `get_pattern_key` — `re.match(rf"(.*\.)?({key})$", name)`,
/// the first key in config order wins — as `AdapterConfig` implements it.
final class LoRAPatternTests: XCTestCase {
    let qkv0 = "transformer.h.0.self_attention.query_key_value"

    func config(rank: [(String, Int)]) throws -> AdapterConfig {
        let pattern = JSONValue.object(rank.map { ($0.0, .int($0.1)) })
        return try AdapterConfig(json: .object([("peft_type", .string("LORA")), ("r", .int(8)),
                                                ("rank_pattern", pattern)]))
    }

    func testSuffixOnDotBoundaries() throws {
        XCTAssertEqual(try config(rank: [("h.0.self_attention.query_key_value", 6)]).rank(forModule: qkv0), 6)
        XCTAssertEqual(try config(rank: [(qkv0, 6)]).rank(forModule: qkv0), 6)
        // A suffix of the string that is not a suffix of dotted components does not match.
        XCTAssertEqual(try config(rank: [("ey_value", 6)]).rank(forModule: qkv0), 8)
        // The dots are regex wildcards, yet "h.1.mlp…" does not catch layer 11.
        let mlp = try config(rank: [("h.1.mlp.dense_h_to_4h", 4)])
        XCTAssertEqual(mlp.rank(forModule: "transformer.h.1.mlp.dense_h_to_4h"), 4)
        XCTAssertEqual(mlp.rank(forModule: "transformer.h.11.mlp.dense_h_to_4h"), 8)
        // "dense" is the attention output, not dense_h_to_4h.
        let dense = try config(rank: [("dense", 4)])
        XCTAssertEqual(dense.rank(forModule: "transformer.h.0.self_attention.dense"), 4)
        XCTAssertEqual(dense.rank(forModule: "transformer.h.0.mlp.dense_h_to_4h"), 8)
    }

    func testRegexKeysAndConfigOrder() throws {
        XCTAssertEqual(try config(rank: [("dense|query_key_value", 6)]).rank(forModule: qkv0), 6)
        XCTAssertEqual(try config(rank: [(#"^transformer\.h\.\d+\.self_attention\.query_key_value"#,
                                          6)]).rank(forModule: qkv0), 6)
        XCTAssertEqual(try config(rank: [("^h.0.self_attention.query_key_value", 6)]).rank(forModule: qkv0), 8)
        // The first matching key in config order wins, not the most specific one.
        XCTAssertEqual(try config(rank: [("query_key_value", 4),
                                         ("h.0.self_attention.query_key_value", 6)]).rank(forModule: qkv0), 4)
    }
}
