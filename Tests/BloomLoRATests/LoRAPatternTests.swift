import BloomCheckpoint
import BloomCore
import TestSupport
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

    /// `target_modules` (a string is `re.fullmatch`ed, a list entry is the name or a dotted suffix) and the pattern
    /// key PEFT picks, against expected/peft-targets.json (PEFT's own functions, generate_peft_targets.py).
    func testTargetsAndPatternKeysMatchPEFT() throws {
        let expected = try Fixtures.json("expected/peft-targets.json")
        let modules = expected["modules"]?.array?.compactMap(\.string) ?? []
        XCTAssertEqual(modules.count, 14)
        let targets = expected["targets"]?.array ?? []
        XCTAssertEqual(targets.count, 14)
        for t in targets {
            let value = try XCTUnwrap(t["target_modules"])
            let config = try AdapterConfig(json: .object([("peft_type", .string("LORA")), ("target_modules", value)]))
            let selected = t["selected"]?.array?.compactMap(\.string) ?? []
            XCTAssertEqual(modules.filter(config.targets(module:)), selected, JSONWriter.string(value))
        }
        let patterns = expected["patterns"]?.array ?? []
        XCTAssertEqual(patterns.count, 7)
        for p in patterns {
            let keys = p["keys"]?.array?.compactMap(\.string) ?? []
            let config = try config(rank: keys.enumerated().map { ($1, $0 + 2) })
            for module in modules {
                let chosen = p["chosen"]?[module]?.string
                let rank = chosen.flatMap { keys.firstIndex(of: $0) }.map { $0 + 2 } ?? 8
                XCTAssertEqual(config.rank(forModule: module), rank, "\(keys) \(module)")
            }
        }
    }

    /// A pattern that makes a backtracking engine (Python's re, NSRegularExpression) run for ages on a module name
    /// (`(.*.*)*z` takes Python 5 s on 14 characters of one, twice as long per character more): matched in linear
    /// time, it selects nothing and the merge goes on.
    func testACatastrophicPatternIsMatchedInLinearTime() throws {
        let hostile = "(.*.*)*z"
        let config = try AdapterConfig(json: .object([
            ("peft_type", .string("LORA")), ("r", .int(8)), ("target_modules", .string(hostile)),
            ("rank_pattern", .object([(hostile, .int(4))])), ("alpha_pattern", .object([(hostile, .int(2))])),
        ]))
        XCTAssertFalse(config.targets(module: qkv0))
        XCTAssertEqual(config.rank(forModule: qkv0), 8)
        XCTAssertEqual(config.alpha(forModule: qkv0), 8)
        XCTAssertTrue(config.targets(module: qkv0 + "z"))
    }

    /// A rank or alpha pattern LinearRegex does not take (a backreference, a lookahead) is refused naming the key and
    /// the pattern: it decides a scaling. A target_modules pattern only backs a consistency check: one outside
    /// LinearRegex's syntax checks nothing.
    func testPatternsBloomkitCannotMatch() throws {
        for (key, pattern) in [("rank_pattern", "(a)\\1"), ("alpha_pattern", "(?!lm_head).*")] {
            let json = JSONValue.object([("peft_type", .string("LORA")), (key, .object([(pattern, .int(4))]))])
            XCTAssertThrowsError(try AdapterConfig(json: json)) {
                let e = $0 as? BloomError
                XCTAssertEqual(e?.code, .adapterConfig, "\($0)")
                XCTAssertEqual(e?.location, "key '\(key)'", "\($0)")
                XCTAssertTrue(e?.message.contains(pattern) ?? false, "\($0)")
            }
        }
        let lookahead = try AdapterConfig(json: .object([("peft_type", .string("LORA")),
                                                         ("target_modules", .string("(?!lm_head).*"))]))
        XCTAssertTrue(lookahead.targets(module: qkv0))
    }
}
