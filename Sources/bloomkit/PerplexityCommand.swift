import ArgumentParser
import BloomCore
import BloomRuntime
import Foundation

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of the model on a text file, and its KL divergence from a base model, as "
            + "llama-perplexity computes them.",
        usage: """
            bloomkit perplexity <model> (<text-file> | --file <file>) [<options>]
            bloomkit perplexity <model> <text> --kl-divergence <base> [<options>]
            bloomkit perplexity <model> <text> --kl-divergence-base <out> [<options>]
            bloomkit perplexity <model> --kl-divergence <saved> [<options>]
            """,
        discussion: """
        The text is tokenized once (no BOS) and cut into non-overlapping chunks of -c tokens (the remainder is \
        dropped); each chunk runs from an empty cache and only its second half is scored: the logits at positions \
        c/2 … c-2, each predicting the next token. PPL = exp(mean negative log-likelihood). Compare quantization \
        types of one model on the same text and context; the numbers match llama-perplexity's on the same file. \
        As there, the text must hold at least 2×c tokens (use a smaller -c for a short text).

        KL divergence (how far a converted file is from the F16 one), in one run:
          bloomkit perplexity model-q4_0.gguf text.txt --kl-divergence model-f16.gguf
        or, as llama-perplexity does it, save the base once and compare each file with it (the saved file holds \
        the tokens, so the text is not needed again; llama-perplexity's files and bloomkit's are the same format):
          bloomkit perplexity model-f16.gguf text.txt --kl-divergence-base f16.logits
          bloomkit perplexity model-q4_0.gguf --kl-divergence f16.logits
        Both files must share the tokenizer. Reported: PPL of both and their ratio, mean KL divergence (base ‖ \
        model) with its standard error and percentiles, Δp (p_model − p_base of the next token), and how often \
        the most likely token is the base's.
        """)

    /// llama-perplexity's default context.
    static let defaultContext = 512

    @OptionGroup var common: CommonOptions
    @OptionGroup var lora: LoRAOptions
    @Argument(help: "A GGUF model file.", completion: .file(extensions: ["gguf"])) var model: String
    @Argument(help: "A UTF-8 text file.") var textFile: String?
    @Option(name: .long, help: "The text file (instead of the argument).") var file: String?
    @Option(name: [.customShort("c"), .customLong("context")],
            help: "Tokens per chunk (even; default 512, llama-perplexity's; a saved base sets its own).")
    var context: Int?
    @Option(name: .long, help: "Score at most this many chunks (default: all).") var chunks: Int?
    @Option(name: .long, help: "Threads (default: all cores).") var threads: Int?
    @Option(name: .customLong("kl-divergence"), help: "Compare with this base: a GGUF file or saved log-probabilities.")
    var klDivergence: String?
    @Option(name: .customLong("kl-divergence-base"), help: "Save this model's log-probabilities to FILE as the base.")
    var klDivergenceBase: String?
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        guard textFile == nil || file == nil else {
            throw ValidationError("give the text file once: FILE or --file FILE")
        }
        guard klDivergence != nil || textFile != nil || file != nil else { throw ValidationError("give the text file") }
        guard klDivergence == nil || klDivergenceBase == nil else {
            throw ValidationError("--kl-divergence and --kl-divergence-base exclude each other: save the base first")
        }
        guard context.map({ $0 >= 4 && $0 % 2 == 0 }) ?? true else {
            throw ValidationError("-c must be an even number of at least 4")
        }
        guard chunks.map({ $0 >= 1 }) ?? true else { throw ValidationError("--chunks must be at least 1") }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try runReportingErrors(common) {
            try ModelPathHint.requireFile(self.model)
            let text = try (textFile ?? file).map(TextFile.read)  // before the model: a bad text fails fast
            let model = try BloomModel(path: self.model, adapters: lora.requests)
            let pool = try ThreadPool(threads: threads)
            let start = ProgressReporter.now()
            if let base = klDivergence {
                let r = try divergence(model: model, base: base, text: text, pool: pool)
                report(r, seconds: ProgressReporter.now() - start)
            } else {
                let r = try perplexity(model: model, text: text ?? "", pool: pool)
                report(r, seconds: ProgressReporter.now() - start)
            }
        }
    }

    private func perplexity(model: BloomModel, text: String, pool: ThreadPool) throws -> PerplexityResult {
        let tokenizer = try model.loadTokenizer()
        let n = context ?? Self.defaultContext
        let tokens = try Perplexity.tokens(text, tokenizer: tokenizer, context: n)
        let chunkCount = min(chunks ?? Int.max, tokens.count / n)
        let writer = try klDivergenceBase.map {
            try SavedLogProbsWriter(path: $0, context: n, vocab: model.hyperParameters.vocabSize, chunks: chunkCount,
                                    tokens: tokens)
        }
        let err = FileHandle.standardError
        let r = try Perplexity.compute(model: model, tokens: tokens, context: n, pool: pool, chunks: chunkCount,
                                       saving: writer) { i, ppl in
            if !json { err.write(Data(String(format: "[%d]%.4f,", i + 1, ppl).utf8)) }
        }
        try writer?.commit()
        return r
    }

    private func divergence(model: BloomModel, base: String, text: String?,
                            pool: ThreadPool) throws -> KLDivergenceResult {
        let err = FileHandle.standardError
        let progress: (Int, KLDivergenceStatistics) -> Void = { i, stats in
            guard !json else { return }
            if i == 0 {
                err.write(Data("chunk  PPL(Q)  ln(PPL(Q)/PPL(base))  KL divergence  RMS Δp  same top\n".utf8))
            }
            let r = stats.runningSummary
            err.write(Data(String(format: "%4d  %9.4f  %10.5f ± %8.5f  %10.5f ± %8.5f  %6.3f%%  %6.3f%%\n", i + 1,
                                  r.perplexity.value, r.logPerplexityRatio.value, r.logPerplexityRatio.uncertainty,
                                  r.meanKLD.value, r.meanKLD.uncertainty, 100 * r.rmsPDiff.value,
                                  100 * r.sameTop.value).utf8))
        }
        if try Self.isGGUF(base) {
            guard let text else { throw BloomError(.invalidArgument, "a GGUF base needs the text file to evaluate") }
            let baseModel = try BloomModel(path: base)
            let tokenizer = try baseModel.loadTokenizer()
            return try KLDivergence.compute(model: model, baseModel: baseModel, tokenizer: tokenizer, text: text,
                                            context: context ?? Self.defaultContext, pool: pool, chunks: chunks,
                                            onChunk: progress)
        }
        let saved = try SavedLogProbs(path: base)
        if let n = context, n != saved.context {
            throw BloomError(.invalidArgument,
                             "the saved log-probabilities were computed with context \(saved.context), "
                             + "not \(n)", path: base)
        }
        return try KLDivergence.compute(model: model, base: saved, pool: pool, chunks: chunks, onChunk: progress)
    }

    private static func isGGUF(_ path: String) throws -> Bool {
        let file = try MappedFile(path: path)
        return file.count >= 4 && Array(file.bytes[0..<4]) == Array("GGUF".utf8)
    }

    private func report(_ r: PerplexityResult, seconds: Double) {
        if json {
            print(JSONWriter.string(.object([
                ("perplexity", .float(r.perplexity)), ("uncertainty", .float(r.uncertainty)),
                ("context", .int(r.contextLength)), ("chunks", .int(r.chunkCount)),
                ("scored_tokens", .int(r.scoredTokens)),
                ("seconds", .float(seconds)),
            ])))
        } else {
            FileHandle.standardError.write(Data("\n".utf8))
            print(String(format: "Final estimate: PPL = %.4f +/- %.5f (%d chunks of %d tokens, %d scored, %.1f s)",
                         r.perplexity, r.uncertainty, r.chunkCount, r.contextLength, r.scoredTokens, seconds))
        }
    }

    private func report(_ r: KLDivergenceResult, seconds: Double) {
        if json {
            print(JSONWriter.string(r.json(seconds: seconds)))
        } else {
            print(r.table(seconds: seconds), terminator: "")
        }
    }
}
