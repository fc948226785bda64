import BloomArch
import BloomCore
@testable import BloomConvert
import BloomGGUF
import Foundation
import TestSupport
import XCTest

/// Synthetic BLOOM checkpoints (seeded values, Hugging Face names and layout) for the convert/quantize/verify tests.
enum ConvertFixtures {
    /// A tensor of seeded values in (-1, 1), different per `seed`.
    static func tensor(_ name: String, _ shape: [Int], seed: UInt64) -> (SourceTensor, [Float]) {
        var rng = SplitMix64(seed: seed)
        let data = rng.uniforms(shape.reduce(1, *), scale: 1)
        let rowLength = shape.count <= 1 ? 1 : shape.dropFirst().reduce(1, *)
        let t = SourceTensor(name: name, dtype: .F32, shape: shape) { start, count, dst in
            for i in 0..<(count * rowLength) { dst[i] = data[start * rowLength + i] }
        }
        return (t, data)
    }

    /// A BLOOM checkpoint's tensors (BloomForCausalLM names) for `h`; values by name.
    static func model(_ h: BloomHyperParameters, lmHead: Bool = false) -> ([SourceTensor], [String: [Float]]) {
        let e = h.embeddingLength, ff = h.feedForwardLength
        var shapes: [(String, [Int])] = [("transformer.word_embeddings.weight", [h.vocabSize, e]),
                                         ("transformer.word_embeddings_layernorm.weight", [e]),
                                         ("transformer.word_embeddings_layernorm.bias", [e])]
        for n in 0..<h.blockCount {
            let p = "transformer.h.\(n)."
            shapes += [(p + "input_layernorm.weight", [e]), (p + "input_layernorm.bias", [e]),
                       (p + "self_attention.query_key_value.weight", [3 * e, e]), (p + "self_attention.query_key_value.bias", [3 * e]),
                       (p + "self_attention.dense.weight", [e, e]), (p + "self_attention.dense.bias", [e]),
                       (p + "post_attention_layernorm.weight", [e]), (p + "post_attention_layernorm.bias", [e]),
                       (p + "mlp.dense_h_to_4h.weight", [ff, e]), (p + "mlp.dense_h_to_4h.bias", [ff]),
                       (p + "mlp.dense_4h_to_h.weight", [e, ff]), (p + "mlp.dense_4h_to_h.bias", [e])]
        }
        shapes += [("transformer.ln_f.weight", [e]), ("transformer.ln_f.bias", [e])]
        if lmHead { shapes.append(("lm_head.weight", [h.vocabSize, e])) }
        var tensors: [SourceTensor] = []
        var values: [String: [Float]] = [:]
        for (k, (name, shape)) in shapes.enumerated() {
            let (t, v) = tensor(name, shape, seed: UInt64(k + 1))
            tensors.append(t)
            values[name] = v
        }
        return (tensors, values)
    }

    static func hyperParameters(vocab: Int = 2048) throws -> BloomHyperParameters {
        try BloomHyperParameters(vocabSize: vocab, contextLength: 64, embeddingLength: 64, feedForwardLength: 256, blockCount: 2,
                                 headCount: 4, layerNormEpsilon: 1e-5)
    }

    static func input(lmHead: Bool = false, tied: Bool = true) throws -> (ConvertInput, [String: [Float]]) {
        let h = try hyperParameters()
        let (tensors, values) = model(h, lmHead: lmHead)
        let vocabulary = try ConvertVocabulary(folder: Fixtures.path("tokenizer"), vocabSize: h.vocabSize)
        return (ConvertInput(publishing: .init(folderName: "synthetic"), source: "memory", adapters: ["a scale=2.0"],
                             hyperParameters: h, tiedOutput: tied,
                             vocabulary: vocabulary, tensors: tensors), values)
    }

    /// A tensor's values read back from a GGUF file as f32.
    static func floats(_ t: GGUFTensor) throws -> [Float] {
        var out = [Float](repeating: 0, count: t.elementCount)
        try out.withUnsafeMutableBufferPointer { try ConvertCodec.decode(t.type, t.bytes, rowLength: t.info.rowLength, into: $0) }
        return out
    }
}
