import ArgumentParser
import BloomCore
import BloomRuntime
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Prompt-processing and generation speed, measured as llama-bench measures them.",
        discussion: """
        pp: -p random tokens as one batch from an empty cache; tg: -n single-token steps from position 0. Each
        repetition's rate is tokens ÷ seconds; the table shows mean ± standard deviation over --repetitions,
        after one warm-up run. Also shown: time to first token for a 16-token prompt.
        """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var lora: LoRAOptions
    @Argument(help: "A GGUF model file.") var model: String
    @Option(name: [.customShort("p"), .customLong("prompt-tokens")], help: "Prompt tokens (0: skip pp).") var promptTokens = 512
    @Option(name: [.customShort("n"), .customLong("gen-tokens")], help: "Generated tokens (0: skip tg).") var genTokens = 128
    @Option(name: .long, help: "Threads (default: all cores).") var threads: Int?
    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Timed repetitions.") var repetitions = 5
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard promptTokens >= 0, genTokens >= 0 else { throw ValidationError("-p and -n must be 0 or more") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try runReportingErrors(common) {
            let m = try BloomModel(path: self.model, adapters: lora.requests)
            let pool = try ThreadPool(threads: threads)
            let r = try Bench.run(model: m, pool: pool, promptTokens: promptTokens, generatedTokens: genTokens, repetitions: repetitions)
            let mean = BenchResult.mean, sd = BenchResult.standardDeviation
            let size = (try? FileManager.default.attributesOfItem(atPath: self.model)[.size] as? Int) ?? 0
            if json {
                print(JSONWriter.string(.object([
                    ("model", .string(self.model)), ("type", .string(m.blockWeightType.name)), ("size_bytes", .int(size)),
                    ("threads", .int(r.threads)), ("n_prompt", .int(r.promptTokens)), ("n_gen", .int(r.generatedTokens)),
                    ("prompt_tokens_per_s", .float(mean(r.promptRates))), ("prompt_tokens_per_s_stddev", .float(sd(r.promptRates))),
                    ("generated_tokens_per_s", .float(mean(r.generationRates))),
                    ("generated_tokens_per_s_stddev", .float(sd(r.generationRates))),
                    ("time_to_first_token_ms", .float(mean(r.firstTokenMilliseconds))),
                    ("bytes_per_token", .int(m.bytesPerToken)),
                ])))
                return
            }
            print("| model | type | size | threads | test | t/s |")
            print("| --- | --- | ---: | ---: | --- | ---: |")
            let name = (self.model as NSString).lastPathComponent
            let row = { (test: String, rates: [Double]) in
                print(String(format: "| %@ | %@ | %@ | %d | %@ | %.2f ± %.2f |", name, m.blockWeightType.name, ByteCount.format(size),
                             r.threads, test, mean(rates), sd(rates)))
            }
            if promptTokens > 0 { row("pp\(promptTokens)", r.promptRates) }
            if genTokens > 0 { row("tg\(genTokens)", r.generationRates) }
            print(String(format: "time to first token (16-token prompt): %.1f ± %.1f ms; weights read per token: %@",
                         mean(r.firstTokenMilliseconds), sd(r.firstTokenMilliseconds), ByteCount.format(m.bytesPerToken)))
        }
    }
}
