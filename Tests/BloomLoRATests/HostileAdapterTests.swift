import BloomCore
import BloomLoRA
import XCTest

/// Hostile adapter_config.json values and adapter tensor sets: each refused with its code, none trapping (a rank that
/// overflows when multiplied, a regex that does not compile, a layout that contradicts the config).
final class HostileAdapterTests: XCTestCase {
    static func tensor(_ name: String, _ shape: [Int]) -> SourceTensor {
        SourceTensor(name: name, dtype: .F32, shape: shape) { _, _, dst in
            for i in 0..<dst.count { dst[i] = Float(i % 7) / 8 }
        }
    }

    static let qkv = "base_model.model.transformer.h.0.self_attention.query_key_value"
    /// Current layout, r = 4: lora_A [4, 8], lora_B [24, 4].
    static let current = [tensor(qkv + ".lora_A.weight", [4, 8]), tensor(qkv + ".lora_B.weight", [24, 4])]
    /// 2023 layout, r = 4, enable_lora [true, false, true]: lora_A [8, 8], lora_B [16, 4, 1].
    static let layout2023 = [tensor(qkv + ".lora_A.weight", [8, 8]), tensor(qkv + ".lora_B.weight", [16, 4, 1])]

    func expect(_ code: BloomError.Code, _ config: String, _ what: String, line: UInt = #line) {
        expect(code, config, Self.current, what, line: line)
    }

    func expect(_ code: BloomError.Code, _ config: String, _ tensors: [SourceTensor], _ what: String, line: UInt = #line) {
        do {
            let json = try JSONParser().parse(config)
            _ = try LoRAAdapter(name: "adapters/hostile", config: json, tensors: tensors)
            XCTFail("\(what): expected \(code), but the adapter was accepted", line: line)
        } catch let error as BloomError {
            XCTAssertEqual(error.code, code, "\(what): \(error)", line: line)
            XCTAssertFalse(error.description.contains(where: \.isNewline), "\(what): \(error)", line: line)
            XCTAssertEqual(error.path, "adapters/hostile", "\(what): the error does not name the adapter", line: line)
        } catch {
            XCTFail("\(what): \(error)", line: line)
        }
    }

    func testTheBaseAdaptersAreAccepted() throws {
        let config = try JSONParser().parse(#"{"peft_type":"LORA","r":4,"lora_alpha":8}"#)
        XCTAssertEqual(try LoRAAdapter(name: "a", config: config, tensors: Self.current).updates.count, 1)
        let old = try JSONParser().parse(#"{"peft_type":"LORA","r":4,"lora_alpha":8,"enable_lora":[true,false,true]}"#)
        XCTAssertEqual(try LoRAAdapter(name: "a", config: old, tensors: Self.layout2023).updates.first?.outFeatures, 24)
    }

    func testConfigValuesOfTheWrongKind() {
        expect(.loraInvalidAdapter, "[]", "a config that is a list")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":0}"#, "r = 0")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":-4}"#, "a negative r")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":"4"}"#, "r as a string")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4.5}"#, "a fractional r")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"lora_alpha":"big"}"#, "lora_alpha as a string")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"lora_alpha":1e400}"#, "an infinite lora_alpha")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"enable_lora":"yes"}"#, Self.layout2023, "enable_lora as a string")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"enable_lora":[]}"#, Self.layout2023, "an empty enable_lora")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"rank_pattern":[4]}"#, "rank_pattern as a list")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"rank_pattern":{"query_key_value":0}}"#, "a pattern rank of 0")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"rank_pattern":{"(":4}}"#, "a pattern that is not a regex")
    }

    func testUnsupportedAdaptersAreRefusedNotMergedWrong() {
        expect(.loraUnsupported, #"{"r":4}"#, "no peft_type")
        expect(.loraUnsupported, #"{"peft_type":"PREFIX_TUNING","r":4}"#, "another PEFT method")
        expect(.loraUnsupported, #"{"peft_type":"LORA","r":4,"use_dora":true}"#, "DoRA")
        expect(.loraUnsupported, #"{"peft_type":"LORA","r":4,"init_lora_weights":"pissa_niter_4"}"#, "PiSSA init")
        expect(.loraUnsupported, #"{"peft_type":"LORA","r":4}"#, [Self.tensor(Self.qkv + ".lora_magnitude_vector.weight", [24])],
               "a DoRA magnitude tensor")
    }

    func testRanksThatOverflowAreRefusedNotTrapped() {
        // r · (enabled blocks) = 2^62 · 2 overflows Int: must be an error, not a trap.
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4611686018427387904,"enable_lora":[true,false,true]}"#,
               Self.layout2023, "r = 2^62 in the 2023 layout")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":9007199254740993}"#, "r past 2^53 in the current layout")
    }

    func testTensorSetsThatContradictTheConfig() {
        let config = #"{"peft_type":"LORA","r":4}"#
        expect(.loraInvalidAdapter, config, [], "no tensors at all")
        expect(.loraInvalidAdapter, config, [Self.current[0]], "lora_A without lora_B")
        expect(.loraInvalidAdapter, config, Self.current + [Self.current[0]], "two lora_A for one module")
        expect(.loraInvalidAdapter, config, Self.layout2023, "the 2023 shapes without enable_lora")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":8}"#, "shapes of rank 4, config of rank 8")
        expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"enable_lora":[false,false,false]}"#, Self.layout2023,
               "enable_lora enabling nothing")
        expect(.loraInvalidAdapter, config, [Self.tensor("base_model.model.lora_A.weight", [4, 8])], "a factor of no module")
        expect(.loraInvalidAdapter, config, [Self.tensor(Self.qkv + ".lora_A.x.y.z", [4, 8])], "an unknown factor form")
        expect(.loraInvalidAdapter, config, [Self.tensor(Self.qkv + ".lora_A.weight", [4, 0]), Self.current[1]],
               "an empty lora_A")
    }
}
