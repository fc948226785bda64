// The GGUF v3 reader: counts, strings, arrays, tensor infos, alignment, offsets (GGUFFile on a mapped file).
import BloomCore
import BloomGGUF
import FuzzSupport

@main
enum FuzzGGUF {
    static func main() {
        runFuzzer { input in
            let path = Scratch.write("input.gguf", input)
            expectCleanFailure {
                let file = try GGUFFile(path: path)
                for tensor in file.tensors {
                    guard tensor.fileOffset >= file.dataOffset, tensor.fileOffset + tensor.byteCount <= file.file.count else {
                        fail("tensor '\(tensor.name)' [\(tensor.fileOffset), +\(tensor.byteCount)) is outside the file")
                    }
                    var sum: UInt8 = 0
                    for b in tensor.bytes { sum &+= b }
                    blackHole(sum)
                }
                for (key, value) in file.metadata.entries { blackHole((key, value.typeName)) }
            }
        }
    }
}
