import BloomCore
import BloomGGUF
import Foundation
import TestSupport
import XCTest
@testable import BloomArch

/// The one name table against files the reference libraries wrote: llama.cpp's convert_hf_to_gguf.py output for
/// tiny-a (expected/gguf/llama-cpp-tiny-a-q8_0.gguf) and transformers' safetensors index of the same model.
final class BloomTensorKindTests: XCTestCase {
    private func llamaCppFile() throws -> GGUFFile {
        try GGUFFile(path: Fixtures.path("expected/gguf/llama-cpp-tiny-a-q8_0.gguf"))
    }

    /// `expected()` names exactly the tensors llama.cpp's converter wrote, with the same `ne`.
    func testExpectedIsWhatLlamaCppWrites() throws {
        let file = try llamaCppFile()
        let h = try BloomHyperParameters(metadata: file.metadata)
        let written = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.ne) })
        let expected = BloomTensorNames.expected(h, separateOutput: false)
        XCTAssertEqual(expected.count, written.count)
        for (name, ne) in expected { XCTAssertEqual(written[name], ne, name) }
    }

    /// Every name llama.cpp wrote parses to one kind and block, and spells back the same; each kind appears once
    /// per block (or once) with its weight and, where it has one, its bias.
    func testKindLookupOnLlamaCppNames() throws {
        let file = try llamaCppFile()
        let h = try BloomHyperParameters(metadata: file.metadata)
        var count: [BloomTensorKind: Int] = [:]
        for t in file.tensors {
            let parsed = try XCTUnwrap(BloomTensorName(gguf: t.name), t.name)
            XCTAssertEqual(parsed.gguf, t.name)
            let lookup = try XCTUnwrap(BloomTensorNames.kind(ofGGUF: t.name))
            XCTAssertEqual(lookup.kind, parsed.kind)
            XCTAssertEqual(lookup.layer, parsed.layer)
            XCTAssertEqual(t.ne, parsed.kind.ne(h, bias: parsed.isBias), t.name)
            count[parsed.kind, default: 0] += 1
        }
        for kind in BloomTensorKind.allCases where kind != .output {  // tiny-a's head is tied: no output.weight
            XCTAssertEqual(count[kind], (kind.isPerLayer ? h.blockCount : 1) * (kind.hasBias ? 2 : 1), "\(kind)")
        }
        XCTAssertNil(count[.output])
    }

    func testKindLookupExamplesAndRefusals() throws {
        let examples: [(String, BloomTensorKind, Int?)] = [
            ("blk.3.ffn_down.weight", .ffnDown, 3), ("blk.0.attn_qkv.bias", .attentionQKV, 0),
            ("blk.12.attn_output.weight", .attentionOutput, 12), ("blk.7.ffn_up.weight", .ffnUp, 7),
            ("token_embd.weight", .tokenEmbedding, nil), ("output.weight", .output, nil),
            ("output_norm.bias", .outputNorm, nil),
        ]
        for (name, kind, layer) in examples {
            let found = try XCTUnwrap(BloomTensorNames.kind(ofGGUF: name), name)
            XCTAssertEqual(found.kind, kind, name)
            XCTAssertEqual(found.layer, layer, name)
        }
        for bad in ["", "blk.01.attn_qkv.weight", "blk.-1.ffn_up.weight", "blk.x.ffn_up.weight",
                    "blk.1.token_embd.weight", "attn_qkv.weight", "blk.1.attn_q.weight", "blk.1.attn_qkv.scale",
                    "blk.1.attn_qkv", "output.bias", "token_embd.bias", "blk.1.ffn_up.weight.weight",
                    "transformer.h.0.input_layernorm.weight"] {
            XCTAssertNil(BloomTensorNames.kind(ofGGUF: bad), bad)
        }
    }

    /// The Hugging Face names transformers saved for tiny-a map onto llama.cpp's names, one to one.
    func testHuggingFaceNamesMapOntoLlamaCppNames() throws {
        let file = try llamaCppFile()
        let json = try Fixtures.json("models/tiny-a/st-bf16-sharded/model.safetensors.index.json")
        let hfNames = try XCTUnwrap(json["weight_map"]?.object).map { $0.0 }
        let mapped = try hfNames.map { try XCTUnwrap(BloomTensorNames.ggufName(forHF: $0), $0) }
        XCTAssertEqual(Set(mapped), Set(file.tensors.map(\.name)))
        XCTAssertEqual(mapped.count, Set(mapped).count)
        for name in hfNames {
            let gguf = try XCTUnwrap(BloomTensorName(hf: name))
            XCTAssertEqual(BloomTensorName(gguf: gguf.gguf), gguf)
            XCTAssertEqual(BloomTensorName(hf: gguf.hf), gguf, name)
        }
    }
}
