// gguf-split sets: the input is the first part (its split.no / split.count / split.tensors.count keys and the
// metadata the set shares), next to a fixed valid second part (Fuzz/parts/fuzz-split/, the seeds' other half).
// GGUFSplitSet checks the parts belong together; every tensor view must lie inside its own part; then the runtime
// binds the set's weights (BloomModel).
import BloomCore
import BloomGGUF
import BloomRuntime
import Foundation
import FuzzSupport

@main
enum FuzzSplit {
    static let secondPart = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../parts/fuzz-split/tiny-bloom-00002-of-00002.gguf").standardized.path

    static func main() {
        guard let second = FileManager.default.contents(atPath: secondPart) else {
            fail("cannot read \(secondPart)")
        }
        Scratch.write("set-00002-of-00002.gguf", Array(second))
        runFuzzer { input in
            let path = Scratch.write("set-00001-of-00002.gguf", input)
            expectCleanFailure {
                let set = try GGUFSplitSet(path: path)
                for tensor in set.tensors {
                    guard set.parts.contains(where: { $0.contains(tensor) }) else {
                        fail("tensor '\(tensor.name)' lies in no part's mapping")
                    }
                    var sum: UInt8 = 0
                    for b in tensor.bytes { sum &+= b }
                    blackHole(sum)
                }
                blackHole(try BloomModel(path: path).bytesPerToken)
            }
        }
    }
}

extension GGUFFile {
    /// Whether the tensor's bytes lie inside this part's mapping.
    func contains(_ tensor: GGUFTensor) -> Bool {
        guard let start = file.bytes.baseAddress, let t = tensor.bytes.baseAddress else { return tensor.bytes.isEmpty }
        return t >= start && t + tensor.bytes.count <= start + file.count
    }
}
