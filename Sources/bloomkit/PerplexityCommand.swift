import ArgumentParser
import BloomCore
import BloomRuntime
import BloomTokenizer
import Foundation

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of the model on a text file, computed as llama-perplexity computes it.",
        discussion: """
        The text is tokenized once (no BOS) and cut into non-overlapping chunks of -c tokens (the remainder is
        dropped); each chunk runs from an empty cache and only its second half is scored: the logits at positions
        c/2 … c-2, each predicting the next token. PPL = exp(mean negative log-likelihood). Compare quantization
        types of one model on the same text and context; the numbers match llama-perplexity's on the same file.
        """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var lora: LoRAOptions
    @Argument(help: "A GGUF model file.") var model: String
    @Argument(help: "A UTF-8 text file.") var textFile: String?
    @Option(name: .long, help: "The text file (instead of the argument).") var file: String?
    @Option(name: [.customShort("c"), .customLong("context")], help: "Tokens per chunk (even).") var context = 128
    @Option(name: .long, help: "Threads (default: all cores).") var threads: Int?
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard (textFile == nil) != (file == nil) else { throw ValidationError("give the text file once: FILE or --file FILE") }
        guard context >= 4, context % 2 == 0 else { throw ValidationError("-c must be an even number of at least 4") }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try runReportingErrors(common) {
            let text = try TextFile.read(textFile ?? file ?? "")
            let model = try BloomModel(path: self.model, adapters: lora.requests)
            let tokenizer = try model.loadTokenizer()
            let pool = try ThreadPool(threads: threads)
            let start = ProgressReporter.now()
            let err = FileHandle.standardError
            let r = try Perplexity.compute(model: model, tokenizer: tokenizer, text: text, context: context, pool: pool) { i, ppl in
                if !json { err.write(Data(String(format: "[%d]%.4f,", i + 1, ppl).utf8)) }
            }
            let seconds = ProgressReporter.now() - start
            if json {
                print(JSONWriter.string(.object([
                    ("perplexity", .float(r.perplexity)), ("uncertainty", .float(r.uncertainty)),
                    ("context", .int(r.contextLength)), ("chunks", .int(r.chunkCount)), ("scored_tokens", .int(r.scoredTokens)),
                    ("seconds", .float(seconds)),
                ])))
            } else {
                err.write(Data("\n".utf8))
                print(String(format: "Final estimate: PPL = %.4f +/- %.5f (%d chunks of %d tokens, %d scored, %.1f s)",
                             r.perplexity, r.uncertainty, r.chunkCount, r.contextLength, r.scoredTokens, seconds))
            }
        }
    }
}
