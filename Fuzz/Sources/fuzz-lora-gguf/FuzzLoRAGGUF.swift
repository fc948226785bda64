// LoRA adapter GGUFs the runtime applies at load time (`--lora FILE`): general.type adapter, adapter.type lora,
// adapter.lora.alpha, the base's bloom.* keys, <weight>.lora_a / .lora_b pairs in F32/F16/BF16/Q8_0 checked against
// the model (BloomLoRAProfile.read, LoRAAdapters), then one evaluation so the pairs' ranks and shapes reach the
// kernels. The base is Fuzz/corpus/fuzz-gguf/tiny-bloom.gguf (hidden 8, 1 block); seeds: adapters for it made by
// `bloomkit convert ADAPTER --base` (make_format_corpus.sh).
import BloomCore
import BloomRuntime
import Foundation
import FuzzSupport

@main
enum FuzzLoRAGGUF {
    static let base = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../corpus/fuzz-gguf/tiny-bloom.gguf").standardized.path

    static func main() {
        guard (try? BloomModel(path: base)) != nil else { fail("the base \(base) does not load") }
        runFuzzer { input in
            let path = Scratch.write("adapter.gguf", input)
            expectCleanFailure {
                let model = try BloomModel(path: base, adapters: [LoRARequest(path: path, scale: 0.5)])
                let context = try InferenceContext(model: model, pool: try ThreadPool(threads: 1), capacity: 4)
                expectCleanFailure { blackHole(try context.evaluate([1, 2])) }
            }
        }
    }
}
