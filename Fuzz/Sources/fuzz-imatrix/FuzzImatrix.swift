// Importance matrices (`--imatrix FILE`): the GGUF form llama-imatrix writes (general.type imatrix, imatrix.* keys,
// <name>.in_sum2 / <name>.counts pairs) and the legacy .dat form (counts read before the values they size), then the
// per-column importance llama-quantize derives from every entry, and a GGUF round trip of what was read.
import BloomCore
import BloomGGUF
import FuzzSupport

@main
enum FuzzImatrix {
    static func main() {
        runFuzzer { input in
            let path = Scratch.write("input.imatrix", input)
            expectCleanFailure {
                let matrix = try ImportanceMatrix(path: path)
                for name in matrix.entries.keys.sorted() {
                    guard let importance = matrix.importance(of: name),
                          importance.count == matrix.entries[name]?.sums.count else {
                        fail("entry '\(name)' has no importance of its own length")
                    }
                    blackHole(importance.reduce(0, +))
                }
                guard !matrix.isLegacy else { return }
                // What was read writes back as the same entries (names, lengths, counts).
                let copy = Scratch.folder + "/copy.gguf"
                try matrix.write(to: copy)
                let again = try ImportanceMatrix(path: copy)
                guard again.entries.mapValues({ [$0.sums.count, $0.count] })
                        == matrix.entries.mapValues({ [$0.sums.count, $0.count] }),
                      again.datasets == matrix.datasets else {
                    fail("the GGUF round trip changed the entries or datasets")
                }
            }
        }
    }
}
