// The safetensors header parser: length prefix, JSON header, offsets, sizes, views (SafetensorsFile on a mapped file).
import BloomCheckpoint
import BloomCore
import FuzzSupport

@main
enum FuzzSafetensors {
    static func main() {
        runFuzzer { input in
            let path = Scratch.write("input.safetensors", input)
            expectCleanFailure {
                let file = try SafetensorsFile(path: path)
                for view in file.tensors {
                    guard view.fileOffset + view.byteCount <= file.mapped.count else {
                        fail("tensor '\(view.name)' ends past the file")
                    }
                    touch(view)
                }
            }
        }
    }
}
