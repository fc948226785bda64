// adapter_config.json as an adapter folder is read (AdapterConfig, AdapterFolder) and merged (LoRAAdapter, LoRAMerge):
// r, lora_alpha, rsLoRA, rank/alpha patterns (regexes), enable_lora, refused variants. The fuzzed config is written
// next to fixed weights in both layouts, then merged into a fixed tiny base and every merged row read.
import BloomCheckpoint
import BloomCore
import BloomLoRA
import FuzzSupport

private let qkv = "base_model.model.transformer.h.0.self_attention.query_key_value"
private let dense = "base_model.model.transformer.h.0.self_attention.dense"

/// Two adapter folders sharing the fuzzed config: current PEFT layout (r = 4, two modules and a trained bias) and the
/// 2023 layout (enable_lora [true, false, true], r = 4: lora_A [8, 8], lora_B [16, 4, 1]).
private let folders: [String] = {
    Scratch.write("current/adapter_model.safetensors", safetensorsF32([
        (qkv + ".lora_A.weight", [4, 8]), (qkv + ".lora_B.weight", [24, 4]),
        (dense + ".lora_A.weight", [4, 8]), (dense + ".lora_B.weight", [8, 4]), (qkv + ".bias", [24]),
    ]))
    Scratch.write("old/adapter_model.safetensors",
                  safetensorsF32([(qkv + ".lora_A.weight", [8, 8]), (qkv + ".lora_B.weight", [16, 4, 1])]))
    return [Scratch.folder + "/current", Scratch.folder + "/old"]
}()

private func tensor(_ name: String, _ shape: [Int]) -> SourceTensor {
    SourceTensor(name: name, dtype: .F32, shape: shape) { start, count, dst in
        for i in 0..<dst.count { dst[i] = Float((start * 31 + i) % 17) / 16 - 0.5 }
    }
}

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
            for folder in folders {
                Scratch.write(String(folder.dropFirst(Scratch.folder.count + 1)) + "/adapter_config.json", input)
                expectCleanFailure {
                    let adapter = try LoRAAdapter(folder: AdapterFolder(path: folder))
                    let merged = try LoRAMerge.apply([adapter], to: base)
                    for t in merged.tensors { blackHole(try t.floats()) }
                }
            }
        }
    }
}
