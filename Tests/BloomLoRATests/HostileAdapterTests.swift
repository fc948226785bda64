import BloomCheckpoint
import BloomCore
import BloomLoRA
import Foundation
import TestSupport
import XCTest

/// Hostile adapters (adapter_config.json values and tensor sets written to a folder here): each refused with its code
/// and a one-line message naming the file or folder, none trapping — a rank that overflows when multiplied, a regex
/// that does not compile, a layout that contradicts the config.
final class HostileAdapterTests: XCTestCase {
    private var scratch: TempDir!
    var root: String { scratch.path }
    override func setUpWithError() throws { scratch = try TempDir("hostile-adapter") }
    override func tearDown() { scratch = nil }

    static let qkv = "base_model.model.transformer.h.0.self_attention.query_key_value"
    /// Current layout, r = 4: lora_A [4, 8], lora_B [24, 4].
    static let current: [(String, [Int])] = [(qkv + ".lora_A.weight", [4, 8]), (qkv + ".lora_B.weight", [24, 4])]
    /// 2023 layout, r = 4, enable_lora [true, false, true]: lora_A [8, 8], lora_B [16, 4, 1].
    static let layout2023: [(String, [Int])] = [(qkv + ".lora_A.weight", [8, 8]), (qkv + ".lora_B.weight", [16, 4, 1])]

    /// A safetensors file of F32 tensors (values i/8), names and shapes as given.
    static func safetensors(_ tensors: [(String, [Int])]) -> [UInt8] {
        var header: [(String, JSONValue)] = []
        var data: [UInt8] = []
        for (name, shape) in tensors {
            let count = shape.reduce(1, &*)
            let begin = data.count
            for i in 0..<count { data.le((Float(i % 8) / 8).bitPattern) }
            header.append((name, .object([("dtype", .string("F32")), ("shape", .array(shape.map { .int($0) })),
                                          ("data_offsets", .array([.int(begin), .int(data.count)]))])))
        }
        let text = Array(JSONWriter.string(.object(header)).utf8)
        var out: [UInt8] = []
        out.le(UInt64(text.count))
        return out + text + data
    }

    /// Writes an adapter folder and returns its path.
    func folder(_ config: String, _ tensors: [(String, [Int])]) throws -> String {
        let path = root + "/adapter-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data(config.utf8).write(to: URL(fileURLWithPath: path + "/adapter_config.json"))
        try Data(Self.safetensors(tensors)).write(to: URL(fileURLWithPath: path + "/adapter_model.safetensors"))
        return path
    }

    /// Reads the folder and reduces it to its merge; asserts the error's code, one line, and that it names a file in
    /// it.
    func expect(_ code: BloomError.Code, _ config: String, _ what: String, line: UInt = #line) throws {
        try expect(code, config, Self.current, what, line: line)
    }

    func expect(_ code: BloomError.Code, _ config: String, _ tensors: [(String, [Int])], _ what: String,
                line: UInt = #line) throws {
        let path = try folder(config, tensors)
        guard let error = assertBloomError(code, what, line: line,
                                           { try LoRAAdapter(folder: AdapterFolder(path: path)) })
        else { return }
        XCTAssertFalse(error.description.contains(where: \.isNewline), "\(what): \(error)", line: line)
        XCTAssertTrue(error.path?.hasPrefix(path) ?? false, "\(what): the error does not name the adapter: \(error)",
                      line: line)
    }

    func testTheBaseAdaptersAreAccepted() throws {
        let current = try LoRAAdapter(folder: AdapterFolder(path: folder(#"{"peft_type":"LORA","r":4,"lora_alpha":8}"#,
                                                                         Self.current)))
        XCTAssertEqual(current.updates.first?.outFeatures, 24)
        let old = try LoRAAdapter(folder: AdapterFolder(path: folder(
            #"{"peft_type":"LORA","r":4,"lora_alpha":8,"enable_lora":[true,false,true]}"#, Self.layout2023)))
        XCTAssertEqual(old.updates.first?.outFeatures, 24)
    }

    func testConfigValuesOfTheWrongKind() throws {
        try expect(.adapterConfig, "[]", "a config that is a list")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":0}"#, "r = 0")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":-4}"#, "a negative r")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":"4"}"#, "r as a string")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4.5}"#, "a fractional r")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4,"lora_alpha":"big"}"#, "lora_alpha as a string")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4,"lora_alpha":1e400}"#, "an infinite lora_alpha")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4,"enable_lora":"yes"}"#, Self.layout2023,
                   "enable_lora as a string")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4,"enable_lora":[]}"#, Self.layout2023,
                   "an empty enable_lora")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4,"rank_pattern":[4]}"#, "rank_pattern as a list")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4,"rank_pattern":{"query_key_value":0}}"#,
                   "a pattern rank of 0")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4,"rank_pattern":{"(":4}}"#,
                   "a pattern that is not a regex")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4,"alpha_pattern":{"(?=x)":4}}"#,
                   "an alpha_pattern lookahead (LinearRegex matches without backtracking)")
        try expect(.adapterConfig, #"{"peft_type":"LORA","r":4,"bias":"some"}"#, "an unknown bias mode")
        try expect(.adapterConfig, #"{"r":4}"#, "no peft_type")
        try expect(.invalidJSON, #"{"peft_type":"LORA","r":4,"r":8}"#, "r twice")
        try expect(.limitExceeded, String(repeating: "[", count: 100_000), "a config nested 100000 deep")
    }

    /// LoRA weights for a module target_modules does not select: PEFT would not wrap the module and would ignore
    /// them, so merging them would change a layer the adapter never trained.
    func testWeightsForAModuleTargetModulesDoesNotSelectAreRefused() throws {
        try expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"target_modules":["dense"]}"#, "a list")
        try expect(.loraInvalidAdapter, #"{"peft_type":"LORA","r":4,"target_modules":"query_key_value"}"#,
                   "a regex that does not match the whole name")
        for config in [#"{"peft_type":"LORA","r":4,"target_modules":".*query_key_value"}"#,
                       #"{"peft_type":"LORA","r":4,"target_modules":["query_key_value"]}"#,
                       #"{"peft_type":"LORA","r":4,"target_modules":"all-linear"}"#] {
            XCTAssertNoThrow(try LoRAAdapter(folder: AdapterFolder(path: folder(config, Self.current))), config)
        }
    }

    func testUnsupportedAdaptersAreRefusedNotMergedWrong() throws {
        try expect(.adapterUnsupported, #"{"peft_type":"PREFIX_TUNING","r":4}"#, "another PEFT method")
        try expect(.loraUnsupported, #"{"peft_type":"LORA","r":4,"use_dora":true}"#, "DoRA")
        try expect(.loraUnsupported, #"{"peft_type":"LORA","r":4,"init_lora_weights":"pissa_niter_4"}"#, "PiSSA init")
        try expect(.loraUnsupported, #"{"peft_type":"LORA","r":4}"#,
                   Self.current + [(Self.qkv + ".lora_magnitude_vector", [24])],
                   "a DoRA magnitude tensor")
    }

    func testRanksThatOverflowAreRefusedNotTrapped() throws {
        // r · (enabled blocks) = 2^62 · 2 overflows Int. lora_B [0, 2^62, 1] and lora_A [0, 8] hold no bytes, so the
        // file itself is valid: only the config's r makes the product.
        try expect(.adapterTensors, #"{"peft_type":"LORA","r":4611686018427387904,"enable_lora":[true,false,true]}"#,
                   [(Self.qkv + ".lora_A.weight", [0, 8]), (Self.qkv + ".lora_B.weight", [0, 1 << 62, 1])],
                   "r = 2^62 with empty 2023-layout tensors")
        try expect(.adapterTensors, #"{"peft_type":"LORA","r":9007199254740993}"#, "r past 2^53 in the current layout")
    }

    func testLoRAUpdateRefusesAnOverflowingRankItself() {
        // The public initializer is reachable without AdapterFolder's checks.
        XCTAssertThrowsError(try LoRAUpdate(weightName: "w", a: [0], aShape: [1, 1], b: [0], bShape: [1, 1, 1],
                                            rank: 1 << 62, scaling: 1,
                                            layout: .fused(enabled: [true, true], groups: 1))) {
            XCTAssertEqual(($0 as? BloomError)?.code, .loraInvalidAdapter)
        }
    }

    func testTensorSetsThatContradictTheConfig() throws {
        let config = #"{"peft_type":"LORA","r":4}"#
        try expect(.adapterEmpty, config, [("base_model.model.transformer.h.0.mlp.dense_4h_to_h.bias", [8])],
                   "no LoRA tensors")
        try expect(.adapterTensors, config, [Self.current[0]], "lora_A without lora_B")
        try expect(.adapterTensors, config, Self.layout2023, "the 2023 shapes without enable_lora")
        try expect(.adapterTensors, #"{"peft_type":"LORA","r":8}"#, "shapes of rank 4, config of rank 8")
        try expect(.adapterTensors, #"{"peft_type":"LORA","r":4,"enable_lora":[false,false,false]}"#, Self.layout2023,
                   "enable_lora enabling nothing")
        try expect(.adapterTensors, config, [("base_model.model.lora_A.weight", [4, 8])], "a factor of no module")
        try expect(.adapterTensors, config, [(Self.qkv + ".lora_A.x.y.weight", [4, 8])], "an unknown factor form")
        try expect(.adapterTensors, config,
                   [(Self.qkv + ".lora_A.one.weight", [4, 8]), (Self.qkv + ".lora_B.two.weight", [24, 4])],
                   "factors of two adapters in one file")
        try expect(.loraInvalidAdapter, config, [(Self.qkv + ".lora_A.weight", [4, 0]),
                                                 (Self.qkv + ".lora_B.weight", [24, 4])],
                   "an empty lora_A")
    }
}
