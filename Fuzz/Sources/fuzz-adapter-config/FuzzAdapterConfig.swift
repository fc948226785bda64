// adapter_config.json as the LoRA merge reads it (r, lora_alpha, rsLoRA, rank/alpha patterns, enable_lora, refused
// variants), applied to fixed in-memory adapters in both layouts and merged into a fixed tiny base, every row read.
import BloomCore
import BloomLoRA
import FuzzSupport

private func tensor(_ name: String, _ shape: [Int]) -> SourceTensor {
    SourceTensor(name: name, dtype: .F32, shape: shape) { start, count, dst in
        for i in 0..<dst.count { dst[i] = Float((start * 31 + i) % 17) / 16 - 0.5 }
    }
}

private let qkv = "base_model.model.transformer.h.0.self_attention.query_key_value"
private let dense = "base_model.model.transformer.h.0.self_attention.dense"

/// Current PEFT layout, r = 4: lora_A [r, in], lora_B [out, r], plus a trained bias.
private let currentLayout = [
    tensor(qkv + ".lora_A.weight", [4, 8]), tensor(qkv + ".lora_B.weight", [24, 4]),
    tensor(dense + ".lora_A.weight", [4, 8]), tensor(dense + ".lora_B.weight", [8, 4]),
    tensor(qkv + ".bias", [24]),
]
/// PEFT ≤ 0.2 (`enable_lora` [true, false, true], r = 4): lora_A [r·2, in], lora_B [out/3·2, r, 1].
private let layout2023 = [tensor(qkv + ".lora_A.weight", [8, 8]), tensor(qkv + ".lora_B.weight", [16, 4, 1])]

private let base = MergeBase(tensors: [
    tensor("transformer.word_embeddings.weight", [16, 8]),
    tensor("transformer.h.0.self_attention.query_key_value.weight", [24, 8]),
    tensor("transformer.h.0.self_attention.query_key_value.bias", [24]),
    tensor("transformer.h.0.self_attention.dense.weight", [8, 8]),
], tiedEmbeddings: true, path: "/models/tiny")

@main
enum FuzzAdapterConfig {
    static func main() {
        runFuzzer { input in
            guard let config = try? JSONParser().parse(input) else { return }
            for tensors in [currentLayout, layout2023] {
                expectCleanFailure {
                    let adapter = try LoRAAdapter(name: "/adapters/fuzz", config: config, tensors: tensors)
                    let merged = try LoRAMerge.apply([adapter], to: base)
                    for t in merged.tensors { blackHole(try t.floats()) }
                }
            }
        }
    }
}
