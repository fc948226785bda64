import ArgumentParser
import BloomCore
import BloomRuntime
import BloomTokenizer
import Foundation

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Run the model on an Alpaca instruction or a raw prompt and stream the answer.",
        discussion: """
        --instruction (and --input) fill the Alpaca prompt template stored in the file (bloomkit.prompt_template.*; \
        Stanford Alpaca's text when the file has none); --prompt is used as it is. No BOS token is added. \
        Decoding is greedy unless --temperature > 0 (then --top-k, default 50, and --top-p apply; the seed is \
        random and printed on stderr unless --seed fixes it, and a seed gives the same answer whatever the thread \
        count); --beams N runs transformers' beam search (length penalty 1, \
        early stopping off). Generation ends at EOS, after --max-tokens, at a --stop text, and with --instruction \
        also where the output starts a new "### Instruction:" section. The answer streams to stdout; load time, \
        prompt and generation speed go to stderr. --json prints one object instead.
        """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var lora: LoRAOptions
    @Argument(help: """
        A GGUF file made by bloomkit convert (or llama.cpp's converter), or a .bkz of one (decoded into memory).
        """, completion: .file(extensions: ["gguf", "bkz"]))
    var model: String
    @Option(name: .long, help: "An instruction, put into the file's Alpaca template.") var instruction: String?
    @Option(name: .long, help: "Context for the instruction (the template's input variant).") var input: String?
    @Option(name: [.customShort("p"), .long], help: "A raw prompt, used as it is.") var prompt: String?
    @Option(name: [.customShort("n"), .long], help: "Most tokens to generate.") var maxTokens = 256
    @Option(name: .long, help: "Beam search with N beams (1: off).") var beams = 1
    @OptionGroup var sampling: SamplingOptions
    @Option(name: [.customShort("t"), .long], help: "Threads (default: all cores).") var threads: Int?
    @Option(name: .long, help: "Stop where the output contains this text (repeatable).") var stop: [String] = []
    @Flag(name: .long, help: "Print one JSON object: prompt, prompt_tokens, tokens, text, stop_reason, timings.")
    var json = false

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        guard (instruction == nil) != (prompt == nil) else {
            throw ValidationError("give either --instruction or --prompt")
        }
        guard input == nil || instruction != nil else { throw ValidationError("--input goes with --instruction") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard beams >= 1 else { throw ValidationError("--beams must be at least 1") }
        guard beams == 1 || (sampling.temperature ?? 0) == 0 else {
            throw ValidationError("--beams does not sample: leave out --temperature")
        }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try runReportingErrors(common) {
            let loadStart = ProgressReporter.now()
            let model = try BloomModel(file: ModelPathHint.openGGUF(self.model, threads: threads),
                                       adapters: lora.requests)
            let tokenizer = try model.loadTokenizer()
            let pool = try ThreadPool(threads: threads)
            let loadMilliseconds = (ProgressReporter.now() - loadStart) * 1000

            var stops = stop
            let text: String
            if let instruction {
                text = try model.promptTemplate().render(instruction: instruction, input: input)
                stops.append(PromptTemplate.sectionStop)
            } else {
                text = prompt ?? ""
            }
            // Beam search does not sample: the file's recommended sampler settings apply to sampling only.
            let sampling = self.sampling.parameters(
                recommended: beams > 1 ? .init() : try SamplingParameters.Recommended(metadata: model.metadata))
            if !sampling.isGreedy && !json {
                let line = "seed \(sampling.seed) (--seed \(sampling.seed) repeats this answer)\n"
                FileHandle.standardError.write(Data(line.utf8))
            }
            let request = GenerationRequest(prompt: text, maxTokens: maxTokens, sampling: sampling, beams: beams,
                                            stops: stops)
            let generator = Generator(model: model, tokenizer: tokenizer, pool: pool)
            let stdout = FileHandle.standardOutput
            let result = try generator.generate(request) { piece in
                if !json { stdout.write(Data(piece.utf8)) }
            }
            let t = result.timings
            if json {
                let value = JSONValue.object([
                    ("prompt", .string(text)),
                    ("prompt_tokens", .array(result.promptTokens.map { .int($0) })),
                    ("tokens", .array(result.tokens.map { .int($0) })),
                    ("text", .string(result.text)),
                    ("stop_reason", .string(result.stopReason.rawValue)),
                    ("seed", .int(Int(sampling.seed))),
                    ("timings", .object([
                        ("load_ms", .float(loadMilliseconds)),
                        ("prompt_tokens_per_s", .float(t.promptTokensPerSecond)),
                        ("first_token_ms", .float(t.firstTokenSeconds * 1000)),
                        ("generated_tokens_per_s", .float(t.generatedTokensPerSecond)),
                    ])),
                ])
                print(JSONWriter.string(value))
            } else {
                stdout.write(Data("\n".utf8))
                let report = String(format: "load %.0f ms; prompt %d tokens, %.1f tokens/s; first token %.1f ms; "
                                    + "generated %d tokens (%@), %.1f tokens/s; %d threads\n",
                                    loadMilliseconds, t.promptTokens, t.promptTokensPerSecond,
                                    t.firstTokenSeconds * 1000, result.tokens.count, result.stopReason.rawValue,
                                    t.generatedTokensPerSecond, pool.threadCount)
                FileHandle.standardError.write(Data(report.utf8))
            }
        }
    }
}
