// The GGUF v3 reader (counts, strings, arrays, tensor infos, alignment, offsets), then everything that trusts a GGUF
// file's metadata when it runs: BLOOM hyper-parameters, the tokenizer from tokenizer.ggml.*, the prompt template, and
// the runtime's weight binding (BloomModel: every tensor required with its shape and type).
import BloomArch
import BloomCore
import BloomGGUF
import BloomRuntime
import BloomTokenizer
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
                expectCleanFailure(namesFile: false) {
                    blackHole(try PromptTemplate(metadata: file.metadata).render(instruction: "i", input: "x"))
                }
                expectCleanFailure(namesFile: false) { blackHole(try BloomHyperParameters(metadata: file.metadata).headDim) }
                expectCleanFailure {
                    let tokenizer = try BloomTokenizer(gguf: file)
                    blackHole(tokenizer.decode(tokenizer.encode("Hello, world! 日本")))
                }
                blackHole(try BloomModel(path: path).bytesPerToken)
            }
        }
    }
}
