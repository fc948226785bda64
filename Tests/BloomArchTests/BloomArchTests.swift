import BloomArch
import BloomCore
import BloomGGUF
import XCTest

final class BloomTensorNamesTests: XCTestCase {
    func testHuggingFaceToGGUFNames() {
        let pairs: [(String, String)] = [
            ("transformer.word_embeddings.weight", "token_embd.weight"),
            ("word_embeddings.weight", "token_embd.weight"),
            ("transformer.word_embeddings_layernorm.weight", "token_embd_norm.weight"),
            ("transformer.word_embeddings_layernorm.bias", "token_embd_norm.bias"),
            ("transformer.h.0.input_layernorm.weight", "blk.0.attn_norm.weight"),
            ("transformer.h.11.self_attention.query_key_value.weight", "blk.11.attn_qkv.weight"),
            ("h.3.self_attention.query_key_value.bias", "blk.3.attn_qkv.bias"),
            ("transformer.h.2.self_attention.dense.weight", "blk.2.attn_output.weight"),
            ("transformer.h.2.post_attention_layernorm.bias", "blk.2.ffn_norm.bias"),
            ("transformer.h.2.mlp.dense_h_to_4h.weight", "blk.2.ffn_up.weight"),
            ("transformer.h.2.mlp.dense_4h_to_h.bias", "blk.2.ffn_down.bias"),
            ("transformer.ln_f.weight", "output_norm.weight"),
            ("lm_head.weight", "output.weight"),
        ]
        for (hf, gguf) in pairs {
            XCTAssertEqual(BloomTensorNames.ggufName(forHF: hf), gguf, hf)
            let back = BloomTensorNames.hfName(forGGUF: gguf)
            XCTAssertEqual(back.flatMap(BloomTensorNames.ggufName(forHF:)), gguf, gguf)
        }
        for bad in ["transformer.h.x.input_layernorm.weight", "transformer.h.01.input_layernorm.weight", "transformer.h.0.mlp.gate.weight",
                    "transformer.ln_f.scale", "lm_head.bias", "model.embed_tokens.weight", "transformer.h.-1.input_layernorm.weight"] {
            XCTAssertNil(BloomTensorNames.ggufName(forHF: bad), bad)
        }
    }

    func testExpectedTensorsMatchLlamaCppCount() throws {
        let h = try BloomHyperParameters(vocabSize: 100, contextLength: 64, embeddingLength: 64, feedForwardLength: 256,
                                         blockCount: 3, headCount: 4, layerNormEpsilon: 1e-5)
        let tied = BloomTensorNames.expected(h, separateOutput: false)
        XCTAssertEqual(tied.count, 5 + 12 * 3)
        XCTAssertEqual(BloomTensorNames.expected(h, separateOutput: true).count, 6 + 12 * 3)
        XCTAssertEqual(Set(tied.map(\.name)).count, tied.count)
        XCTAssertEqual(tied.first { $0.name == "blk.2.attn_qkv.weight" }?.ne, [64, 192])
        XCTAssertEqual(tied.first { $0.name == "blk.0.ffn_down.weight" }?.ne, [256, 64])
        XCTAssertEqual(tied.first { $0.name == "token_embd.weight" }?.ne, [64, 100])
        for (name, ne) in tied {
            XCTAssertNotNil(BloomTensorNames.hfName(forGGUF: name), name)
            XCTAssertEqual(BloomTensorNames.isQuantizable(name, ne: ne), ne.count == 2, name)
            XCTAssertEqual(BloomTensorNames.mustBeF32(name, ne: ne), ne.count == 1, name)
        }
    }
}

final class QKVLayoutTests: XCTestCase {
    /// llama.cpp's converter: reshape (n_head, 3, head_dim, n_embd), then concatenate [:,0], [:,1], [:,2].
    func referenceToGGUF(_ w: [Float], heads: Int, headDim: Int, rowLength: Int) -> [Float] {
        var out: [Float] = []
        for t in 0..<3 {
            for h in 0..<heads {
                for d in 0..<headDim {
                    let row = ((h * 3 + t) * headDim + d)
                    out += w[(row * rowLength)..<((row + 1) * rowLength)]
                }
            }
        }
        return out
    }

    func testRelayoutMatchesLlamaCppAndInverts() {
        for (heads, headDim, rowLength) in [(4, 16, 64), (6, 16, 96), (1, 8, 8), (3, 5, 1)] {
            let layout = QKVLayout(headCount: heads, headDim: headDim)
            let w = (0..<(3 * heads * headDim * rowLength)).map { Float($0) }
            let g = layout.toGGUF(w, rowLength: rowLength)
            XCTAssertEqual(g, referenceToGGUF(w, heads: heads, headDim: headDim, rowLength: rowLength))
            XCTAssertEqual(layout.toHF(g, rowLength: rowLength), w)
            for r in 0..<layout.rowCount {
                XCTAssertEqual(layout.ggufRow(ofHFRow: layout.hfRow(ofGGUFRow: r)), r)
            }
            // Runs cover any chunk exactly, each run contiguous in both orders.
            for (start, count) in [(0, layout.rowCount), (3, 7), (headDim - 1, headDim + 2)] where start + count <= layout.rowCount {
                let runs = layout.hfRuns(ggufRows: start, count: count)
                XCTAssertEqual(runs.reduce(0) { $0 + $1.length }, count)
                for run in runs {
                    for i in 0..<run.length { XCTAssertEqual(layout.hfRow(ofGGUFRow: run.gguf + i), run.hf + i) }
                }
            }
        }
    }
}

final class BloomHyperParametersTests: XCTestCase {
    func testGGUFRoundTripAndStrictTypes() throws {
        let h = try BloomHyperParameters(vocabSize: 3, contextLength: 64, embeddingLength: 64, feedForwardLength: 256,
                                         blockCount: 2, headCount: 4, layerNormEpsilon: 1e-5)
        var m = try GGUFMetadata([("general.architecture", .string("bloom")), ("tokenizer.ggml.tokens", .array(.string(["a", "b", "c"])))]
                                 + h.metadataEntries)
        XCTAssertEqual(try BloomHyperParameters(metadata: m), h)
        for (key, value) in h.metadataEntries {
            if key.hasSuffix("epsilon") { XCTAssertEqual(value.type, .float32) } else { XCTAssertEqual(value.type, .uint32, key) }
        }
        m.set(BloomGGUFKeys.blockCount, .int32(2))
        XCTAssertThrowsError(try BloomHyperParameters(metadata: m)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .ggufWrongType)
        }
        XCTAssertThrowsError(try BloomHyperParameters(vocabSize: 3, contextLength: 64, embeddingLength: 64, feedForwardLength: 256,
                                                      blockCount: 2, headCount: 5, layerNormEpsilon: 1e-5))
    }

    func testAlpacaTemplate() {
        XCTAssertEqual(AlpacaTemplate.render(instruction: "Say {input}", input: nil),
                       "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay {input}\n\n### Response:")
        XCTAssertEqual(AlpacaTemplate.render(instruction: "A", input: "{instruction}"),
                       "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nA\n\n### Input:\n{instruction}\n\n### Response:")
    }
}
