// torch.save zip archives as a whole: end record, ZIP64 locator and record, central directory, local headers, inflate,
// then the pickle and the storages (TorchArchive on a mapped file).
import BloomCheckpoint
import BloomCore
import FuzzSupport

@main
enum FuzzTorchZip {
    static func main() {
        runFuzzer { input in
            let path = Scratch.write("input.bin", input)
            expectCleanFailure {
                for view in try Checkpoint.open(path).tensors { touch(view) }
            }
        }
    }
}
