import BloomArch
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
        for bad in ["transformer.h.x.input_layernorm.weight", "transformer.h.01.input_layernorm.weight",
                    "transformer.h.0.mlp.gate.weight",
                    "transformer.ln_f.scale", "lm_head.bias", "model.embed_tokens.weight",
                    "transformer.h.-1.input_layernorm.weight"] {
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
