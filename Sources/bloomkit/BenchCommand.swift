import ArgumentParser
import BloomCore
import BloomGGUF
import BloomRuntime
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Prompt-processing and generation speed, measured as llama-bench measures them.",
        usage: "bloomkit bench <model> ... [-p <list>] [-n <list>] [<options>]",
        discussion: """
        pp: -p random tokens as one batch from an empty cache; tg: -n single-token steps from position 0. Each \
        repetition's rate is tokens ÷ seconds; the table shows mean ± standard deviation over --repetitions, \
        after one warm-up run. Also shown: time to first token for a 16-token prompt. As with llama-bench, -p and \
        -n take comma lists (-p 128,512) and several models may be given (as arguments or -m): one row per model \
        and test. --json prints one object, or an array of them (one per model and test) when there are several.
        """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var lora: LoRAOptions
    @Argument(help: "GGUF model files.", completion: .file(extensions: ["gguf"])) var models: [String] = []
    @Option(name: [.customShort("m"), .customLong("model")], help: "A GGUF model file (may repeat).")
    var modelOptions: [String] = []
    @Option(name: [.customShort("p"), .customLong("prompt-tokens")], help: "Prompt tokens, a comma list (0: skip pp).")
    var promptTokens = "512"
    @Option(name: [.customShort("n"), .customLong("gen-tokens")], help: "Generated tokens, a comma list (0: skip tg).")
    var genTokens = "128"
    @Option(name: .long, help: "Threads (default: all cores).") var threads: Int?
    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Timed repetitions.") var repetitions = 5
    @Flag(name: .long, help: "Print JSON.") var json = false

    /// A comma list of token counts, each 0 or more.
    static func counts(_ list: String, _ flag: String) throws -> [Int] {
        let values = list.split(separator: ",", omittingEmptySubsequences: false)
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? -1) >= 0 }) else {
            throw ValidationError("\(flag) '\(list)' is not a comma list of token counts (0 or more), such as 128,512")
        }
        return values.compactMap { $0 }
    }

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        _ = try Self.counts(promptTokens, "-p")
        _ = try Self.counts(genTokens, "-n")
        guard !(models + modelOptions).isEmpty else { throw ValidationError("give a model: MODEL or -m MODEL") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        guard threads.map({ $0 >= 1 }) ?? true else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        try runReportingErrors(common) {
            let ps = try Self.counts(promptTokens, "-p"), ns = try Self.counts(genTokens, "-n")
            let paths = models + modelOptions
            for path in paths { try ModelPathHint.requireFile(path) }
            let pool = try ThreadPool(threads: threads)
            // One run of both tests as before when there is one of each; else one run per test, as llama-bench's rows.
            let single = paths.count == 1 && ps.count == 1 && ns.count == 1
            let tests = single ? [(ps[0], ns[0])]
                : ps.filter { $0 > 0 }.map { ($0, 0) } + ns.filter { $0 > 0 }.map { (0, $0) }
            let mean = BenchResult.mean, sd = BenchResult.standardDeviation
            var objects: [JSONValue] = []
            if !json {
                print("| model | type | size | threads | test | t/s |")
                print("| --- | --- | ---: | ---: | --- | ---: |")
            }
            var firstToken: [String] = []
            for path in paths {
                let m = try BloomModel(path: path, adapters: lora.requests)
                // The whole model's size: every part of a split set (the model opened them all).
                let size = try GGUFSplitSet(path: path).parts.reduce(0) { $0 + $1.file.count }
                let name = (path as NSString).lastPathComponent
                var firstTokenShown = false
                for (p, n) in tests {
                    let r = try Bench.run(model: m, pool: pool, promptTokens: p, generatedTokens: n,
                                          repetitions: repetitions)
                    objects.append(.object([
                        ("model", .string(path)), ("type", .string(m.fileTypeName)), ("size_bytes", .int(size)),
                        ("threads", .int(r.threads)), ("n_prompt", .int(r.promptTokens)),
                        ("n_gen", .int(r.generatedTokens)),
                        ("prompt_tokens_per_s", .float(mean(r.promptRates))),
                        ("prompt_tokens_per_s_stddev", .float(sd(r.promptRates))),
                        ("generated_tokens_per_s", .float(mean(r.generationRates))),
                        ("generated_tokens_per_s_stddev", .float(sd(r.generationRates))),
                        ("time_to_first_token_ms", .float(mean(r.firstTokenMilliseconds))),
                        ("bytes_per_token", .int(m.bytesPerToken)),
                    ]))
                    guard !json else { continue }
                    let row = { (test: String, rates: [Double]) in
                        print(String(format: "| %@ | %@ | %@ | %d | %@ | %.2f ± %.2f |", name, m.fileTypeName,
                                     ByteCount.format(size), r.threads, test, mean(rates), sd(rates)))
                    }
                    if p > 0 { row("pp\(p)", r.promptRates) }
                    if n > 0 { row("tg\(n)", r.generationRates) }
                    if !firstTokenShown {
                        firstTokenShown = true
                        firstToken.append(String(format: "%@: time to first token (16-token prompt): %.1f ± %.1f ms; "
                                                 + "weights read per token: %@", name, mean(r.firstTokenMilliseconds),
                                                 sd(r.firstTokenMilliseconds), ByteCount.format(m.bytesPerToken)))
                    }
                }
            }
            if json {
                print(JSONWriter.string(objects.count == 1 ? objects[0] : .array(objects)))
            } else {
                firstToken.forEach { print($0) }
            }
        }
    }
}
