import BloomCore
import Foundation
import TestSupport
import XCTest
@testable import BloomCheckpoint

final class AdapterFolderTests: XCTestCase {
    /// The fixture's expected/inspect summary: what PEFT's own config and torch/safetensors reported.
    private func expectedInspect(_ name: String) throws -> JSONValue {
        try JSONParser().parse(try String(contentsOfFile: try Fixtures.path("expected/inspect/adapters_\(name).json"),
                                          encoding: .utf8))
    }

    func testFixtureAdapters() throws {
        for (name, layout, format) in [("alpaca-b", AdapterLayout.current, CheckpointFormat.safetensors),
                                       ("lora-bin-a", .current, .pytorch), ("rslora-a", .current, .safetensors),
                                       ("lora-2023-a", .mergedLinear2023, .pytorch)] {
            let adapter = try AdapterFolder(path: try Fixtures.path("adapters/" + name))
            let expected = try expectedInspect(name)
            let summary = try XCTUnwrap(expected["summary"])
            XCTAssertEqual(adapter.layout, layout, name)
            XCTAssertEqual(adapter.checkpoint.format, format, name)
            XCTAssertEqual(adapter.config.r, summary["r"]?.int, name)
            XCTAssertEqual(adapter.config.loraAlpha, summary["lora_alpha"]?.double, name)
            XCTAssertEqual(adapter.config.useRslora, summary["use_rslora"]?.bool ?? false, name)
            XCTAssertEqual(adapter.config.fanInFanOut, summary["fan_in_fan_out"]?.bool, name)
            XCTAssertEqual(adapter.config.bias, summary["bias"]?.string, name)
            XCTAssertEqual(adapter.config.enableLora, summary["enable_lora"]?.array?.compactMap(\.bool), name)
            XCTAssertEqual(adapter.config.targetModules,
                           .names(summary["target_modules"]?.array?.compactMap(\.string) ?? []), name)
            XCTAssertEqual(adapter.tensors.count, summary["n_tensors"]?.int, name)

            let names = try XCTUnwrap(expected["tensors"]?.array).compactMap { $0["name"]?.string }
            let aNames = names.filter { $0.hasSuffix(".lora_A.weight") }
            XCTAssertEqual(adapter.modules.map { "base_model.model." + $0.path + ".lora_A.weight" }, aNames, name)
            XCTAssertEqual(adapter.replacements.map { "base_model.model." + $0.name.replacingOccurrences(of: ".bias",
                with: ".base_layer.bias") },
                           names.filter { $0.hasSuffix(".base_layer.bias") }, name)
            for module in adapter.modules {
                XCTAssertTrue(module.path.hasPrefix("transformer.h."), module.path)
                XCTAssertEqual(adapter.module(module.canonicalPath)?.a.name, module.a.name)
                XCTAssertEqual(adapter.module(module.path)?.b.name, module.b.name)
                XCTAssertEqual(module.b.name, module.a.name.replacingOccurrences(of: "lora_A", with: "lora_B"))
            }
            // Per-module rank and alpha follow the patterns PEFT applied (the shapes it saved prove the rank).
            if let ranks = summary["rank_pattern"]?.object {
                for (pattern, rank) in ranks {
                    let module = try XCTUnwrap(adapter.modules.first { $0.path.hasSuffix(pattern) }, pattern)
                    XCTAssertEqual(adapter.config.rank(forModule: module.path), rank.int)
                    XCTAssertEqual(module.a.shape[0], rank.int)
                }
            }
            if let alphas = summary["alpha_pattern"]?.object {
                for (pattern, alpha) in alphas {
                    XCTAssertEqual(adapter.config.alpha(forModule: "transformer." + pattern), alpha.double)
                }
                XCTAssertEqual(adapter.config.alpha(forModule: "transformer.h.9.mlp.dense_h_to_4h"),
                               adapter.config.loraAlpha)
            }
        }
    }

    // MARK: layouts and refusals built in the test

    private let config = #"{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["query_key_value"]}"#
    private let qkv = "base_model.model.transformer.h.0.self_attention.query_key_value"

    private func adapter(config: String, _ tensors: [(name: String, shape: [Int])]) throws -> AdapterFolder {
        let dir = try TempDir()
        try dir.write("adapter_config.json", config)
        try dir.write("adapter_model.safetensors", safetensorsFile(tensors))
        return try AdapterFolder(path: dir.path)
    }

    func testAdapterNamesEmbeddingsDoRAAndReplacements() throws {
        let config = #"{"peft_type": "LORA", "r": 2, "use_dora": true, "lora_bias": true, "modules_to_save": ["ln_f"]}"#
        let folder = try adapter(config: config, [
            (qkv + ".lora_A.default.weight", [2, 8]), (qkv + ".lora_B.default.weight", [24, 2]),
            (qkv + ".lora_B.default.bias", [24]),
            (qkv + ".lora_magnitude_vector.default.weight", [24]),
            ("base_model.model.transformer.word_embeddings.lora_embedding_A.default", [2, 50]),
            ("base_model.model.transformer.word_embeddings.lora_embedding_B.default", [8, 2]),
            ("base_model.model.transformer.ln_f.modules_to_save.default.weight", [8]),
        ])
        XCTAssertEqual(folder.adapterName, "default")
        XCTAssertEqual(folder.modules.map(\.canonicalPath), ["h.0.self_attention.query_key_value", "word_embeddings"])
        let m = try XCTUnwrap(folder.module("h.0.self_attention.query_key_value"))
        XCTAssertEqual(m.bBias?.shape, [24])
        XCTAssertEqual(m.magnitude?.shape, [24])
        XCTAssertTrue(folder.modules[1].isEmbedding)
        XCTAssertEqual(folder.replacements.map(\.name), ["transformer.ln_f.weight"])
        XCTAssertEqual(folder.config.loraAlpha, 8, "PEFT's default alpha")
    }

    func testRefusals() throws {
        let cases: [(String, String, [(name: String, shape: [Int])], BloomError.Code)] = [
            ("not LoRA", #"{"peft_type": "IA3"}"#, [(qkv + ".lora_A.weight", [2, 8]),
                                                    (qkv + ".lora_B.weight", [24, 2])], .adapterUnsupported),
            ("no peft_type", #"{"r": 2}"#, [], .adapterConfig),
            ("r is zero", #"{"peft_type": "LORA", "r": 0}"#, [], .adapterConfig),
            ("bad pattern regex", #"{"peft_type": "LORA", "rank_pattern": {"h.(": 2}}"#, [], .adapterConfig),
            ("empty adapter", config, [], .adapterEmpty),
            ("only biases", config, [(qkv + ".bias", [24])], .adapterEmpty),
            ("rank differs from r", config, [(qkv + ".lora_A.weight", [3, 8]), (qkv + ".lora_B.weight", [24, 3])],
             .adapterTensors),
            ("A and B disagree", config, [(qkv + ".lora_A.weight", [2, 8]), (qkv + ".lora_B.weight", [24, 3])],
             .adapterTensors),
            ("lora_B missing", config, [(qkv + ".lora_A.weight", [2, 8])], .adapterTensors),
            ("3-D lora_B without enable_lora", config, [(qkv + ".lora_A.weight", [4, 8]),
                                                        (qkv + ".lora_B.weight", [16, 2, 1])], .adapterTensors),
            ("two adapter names", config, [(qkv + ".lora_A.one.weight", [2, 8]), (qkv + ".lora_B.two.weight", [24, 2])],
             .adapterTensors),
            ("2023 shapes off", #"{"peft_type": "LORA", "r": 2, "enable_lora": [true, false, true]}"#,
             [(qkv + ".lora_A.weight", [2, 8]), (qkv + ".lora_B.weight", [16, 2, 1])], .adapterTensors),
        ]
        for (what, config, tensors, code) in cases {
            assertBloomError(code, what) { try adapter(config: config, tensors) }
        }
        let empty = assertBloomError(.adapterEmpty) { try adapter(config: config, []) }
        XCTAssertTrue(empty?.message.contains("alpaca-lora") ?? false)
    }

    /// The alpaca-lora bug's file: a torch.save of an empty dict, 2023 layout config.
    func testEmptyTorchAdapterExplainsTheAlpacaLoraBug() throws {
        let dir = try TempDir()
        try dir.write("adapter_config.json",
                      #"{"peft_type": "LORA", "r": 16, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}"#)
        try dir.write("adapter_model.bin", torchArchive(prefix: "adapter_model", pickle: [0x80, 2, 0x7D, 0x71, 0, 0x2E],
                                                        storages: []))
        assertBloomError(.adapterEmpty) { try AdapterFolder(path: dir.path) }
    }
}
