// torch.save zip archives as a whole: end record, ZIP64 locator and record, central directory, local headers, inflate,
// then the pickle and the storages (TorchArchive on a mapped file); then the same file read headers-only (inspect).
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
            // What inspect reads: headers only, deflated storages never inflated; views stay inside their storage.
            expectCleanFailure {
                for view in try Checkpoint.open(path, headersOnly: true).tensors {
                    guard view.range.lowerBound >= 0, view.range.upperBound <= view.storage.count else {
                        fail("header-only tensor '\(view.name)' range \(view.range) is outside "
                             + "\(view.storage.count) bytes")
                    }
                }
            }
        }
    }
}
