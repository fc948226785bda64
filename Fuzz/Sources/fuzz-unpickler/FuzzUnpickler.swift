// The restricted unpickler: the input is `data.pkl`, wrapped in a stored zip as torch.save lays it out, next to
// storages data/0 (16 bytes), data/1 (64 bytes) and data/2 (6 bytes), so well-formed tensor records can resolve.
import BloomCheckpoint
import BloomCore
import FuzzSupport

@main
enum FuzzUnpickler {
    static func main() {
        runFuzzer { input in
            let pickle = Array(input)
            let archive = storedZip([
                ("archive/data.pkl", pickle),
                ("archive/byteorder", Array("little".utf8)),
                ("archive/data/0", (0..<16).map { UInt8($0) }),
                ("archive/data/1", (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 7) }),
                ("archive/data/2", [1, 2, 3, 4, 5, 6]),
                ("archive/version", Array("3\n".utf8)),
            ])
            let path = Scratch.write("archive.pt", archive)
            expectCleanFailure {
                for view in try TorchArchive(path: path).tensors { touch(view) }
            }
        }
    }
}
