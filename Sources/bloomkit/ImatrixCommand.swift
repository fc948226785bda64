import ArgumentParser
import BloomCore
import BloomGGUF
import BloomRuntime
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct ImatrixCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imatrix",
        abstract: "An importance matrix (activation statistics on a text) for importance-weighted quantization, as "
            + "llama-imatrix computes it.",
        discussion: """
        The text is tokenized once and cut into chunks of -c tokens, each run from an empty cache; for every block
        matrix (attn_qkv, attn_output, ffn_up, ffn_down of each layer) the sum of each input column's squared
        activations and the number of tokens are collected. The output is llama.cpp's imatrix GGUF file
        (<name>.in_sum2, <name>.counts, imatrix.* keys): llama-quantize --imatrix reads it, and so does bloomkit.
          bloomkit imatrix model-f16.gguf --file calibration.txt -o imatrix.gguf -c 512
        """)

    @OptionGroup var common: CommonOptions
    @Argument(help: "A GGUF model file (F16 or F32 for the most faithful statistics).") var model: String
    @Option(name: [.customShort("f"), .long], help: "The UTF-8 text to collect on.") var file: String
    @Option(name: .shortAndLong, help: "The importance matrix to write.") var output = "imatrix.gguf"
    @Option(name: [.customShort("c"), .customLong("context")], help: "Tokens per chunk.") var context = 512
    @Option(name: .long, help: "Use at most this many chunks (default: all).") var chunks: Int?
    @Option(name: [.customShort("b"), .customLong("batch")], help: "llama-imatrix's n_batch (which passes it skips).")
    var batch = ImatrixCollector.defaultBatch
    @Option(name: .long, help: "Threads (default: all cores).") var threads: Int?

    func validate() throws {
        guard context >= 1 else { throw ValidationError("-c must be at least 1") }
        guard batch >= 1 else { throw ValidationError("-b must be at least 1") }
        guard chunks.map({ $0 >= 1 }) ?? true else { throw ValidationError("--chunks must be at least 1") }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try runReportingErrors(common) {
            let text = try TextFile.read(file)
            let model = try BloomModel(path: self.model)
            let tokens = try model.loadTokenizer().encodeChecked(text)
            let pool = try ThreadPool(threads: threads)
            let start = ProgressReporter.now()
            let terminal = isatty(2) == 1, err = FileHandle.standardError
            let collect = { (progress: (Int, Int) -> Void) throws -> ImportanceMatrix in
                do {
                    return try ImatrixCollector.collect(model: model, tokens: tokens, context: context, chunks: chunks,
                                                        batch: batch, pool: pool, dataset: file, onChunk: progress)
                } catch let error as BloomError where error.path == nil {
                    throw error.at(path: file)  // a text too short for the context
                }
            }
            let matrix = try collect { i, total in
                guard terminal else { return }
                let seconds = ProgressReporter.now() - start
                let rate = Double((i + 1) * context) / max(seconds, 1e-6)
                let left = Double(total - i - 1) * seconds / Double(i + 1)
                err.write(Data(String(format: "\rimatrix  chunk %d/%d  %.0f tokens/s  %.0fs left \u{1B}[K", i + 1,
                                      total, rate, left).utf8))
            }
            if terminal { err.write(Data("\r\u{1B}[K".utf8)) }
            try matrix.write(to: output)
            let seconds = ProgressReporter.now() - start
            print(String(format: "%d matrices, %d chunks of %d tokens (%.0f tokens/s, %.1f s) -> ",
                         matrix.entries.count,
                         matrix.chunkCount, context, Double(matrix.chunkCount * context) / max(seconds, 1e-6), seconds)
                  + output)
        }
    }
}
