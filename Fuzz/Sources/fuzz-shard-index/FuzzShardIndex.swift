// Shard indexes (`model.safetensors.index.json`): the weight map, shard names that must stay in the folder, and the
// cross-check against the shards. The folder holds one valid shard, `model-00001-of-00001.safetensors` (tensors a, b).
import BloomCheckpoint
import BloomCore
import FuzzSupport

private let shard: Void = {
    Scratch.write("model-00001-of-00001.safetensors", safetensorsF32([("a", [2]), ("b", [2, 2])]))
}()

@main
enum FuzzShardIndex {
    static func main() {
        runFuzzer { input in
            _ = shard
            let path = Scratch.write("model.safetensors.index.json", input)
            expectCleanFailure {
                let checkpoint = try Checkpoint.open(path)
                for view in checkpoint.tensors { touch(view) }
            }
        }
    }
}
