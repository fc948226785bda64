import ArgumentParser
import BloomConvert
import BloomCore
import BloomGGUF
import BloomRuntime
import BloomTokenizer
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The whole flow on the tiny BLOOM and LoRA adapter bundled in Tests/Fixtures.",
        usage: "bloomkit demo [<options>]",
        discussion: """
        Inspects the base model (models/tiny-b) and the adapter (adapters/alpaca-b, a LoRA trained on Alpaca-style \
        instructions), merges the adapter and converts to one Q8_0 GGUF file, then answers an Alpaca instruction with \
        that file — next to the base model's answer, so the adapter's effect shows. Files go to a temporary folder \
        (removed afterwards) unless --output is given.
        """)

    @OptionGroup var common: CommonOptions
    @Option(name: .long, help: "The fixtures folder (default: Tests/Fixtures of this checkout).") var fixtures: String?
    @Option(name: .long, help: "Keep the GGUF files in this folder.") var output: String?
    // The demo case of Tests/Fixtures/expected/generate (a held-out phrasing of a trained fact).
    @Option(name: .long, help: "The instruction to answer.") var instruction = "What is the capital of France?"
    @Option(name: .long, help: "Threads (default: all cores).") var threads: Int?

    func run() throws {
        try runReportingErrors(common) {
            let root = try fixturesFolder()
            let base = root.appendingPathComponent("models/tiny-b/st-f16").path
            let adapter = root.appendingPathComponent("adapters/alpaca-b").path
            let folder = URL(fileURLWithPath: output ?? NSTemporaryDirectory())
                .appendingPathComponent(output == nil ? "bloomkit-demo-\(UUID().uuidString)" : "")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { if output == nil { try? FileManager.default.removeItem(at: folder) } }

            say("bloomkit demo: a BLOOM checkpoint plus a LoRA adapter → one GGUF file → an answer, on this CPU.\n")
            say("[1/5] Inspect the base model (bloomkit inspect \(relative(base, root)))")
            say(summary(try InspectReport.open(base)))
            say("[2/5] Inspect the LoRA adapter (bloomkit inspect \(relative(adapter, root)))")
            say(summary(try InspectReport.open(adapter)))

            say("[3/5] Merge the adapter and convert to Q8_0 in one pass")
            let merged = folder.appendingPathComponent("tiny-b-alpaca-q8_0.gguf").path
            let plain = folder.appendingPathComponent("tiny-b-q8_0.gguf").path
            var options = ConvertOptions()
            options.type = .Q8_0
            say("      bloomkit convert \(relative(base, root)) --lora \(relative(adapter, root)) --type q8_0 "
                + "-o \(merged)")
            let report = try Converter.convert(try ConvertInput(folder: base, adapters: [adapter]), to: merged,
                                               options: options)
            let inputBytes = try directorySize(base) + directorySize(adapter)
            say(String(format: "      %@ + adapter → %@ (%d tensors, %.2f bits per weight) in %.0f ms",
                       ByteCount.format(try directorySize(base)), ByteCount.format(report.fileSize),
                       report.tensors.count, report.bitsPerWeight, report.seconds * 1000))
            say(String(format: "      inputs %@ in all; the file holds weights, tokenizer, hyper-parameters and the "
                       + "Alpaca template\n",
                       ByteCount.format(inputBytes)))
            _ = try Converter.convert(try ConvertInput(folder: base), to: plain, options: options)

            say("[4/5] Answer an Alpaca instruction with the converted file")
            say("      bloomkit generate \(merged) --instruction \(instruction.debugDescription)")
            let pool = try ThreadPool(threads: threads)
            let answer = try generate(merged, pool: pool)
            say("      with the adapter:    \(answer.text.debugDescription)")
            say(String(format: "                           (%d tokens, stopped at %@; prompt %.0f tokens/s, "
                       + "generation %.0f tokens/s)",
                       answer.tokens.count, answer.stopReason.rawValue, answer.timings.promptTokensPerSecond,
                       answer.timings.generatedTokensPerSecond))
            let before = try generate(plain, pool: pool)
            say("      base model alone:    \(before.text.debugDescription)")

            say("\n[5/5] Check the conversion against the F16 file: perplexity and KL divergence on held-out text")
            let f16 = folder.appendingPathComponent("tiny-b-f16.gguf").path
            let text = root.appendingPathComponent("expected/perplexity/heldout.txt").path
            options.type = .F16
            _ = try Converter.convert(try ConvertInput(folder: base), to: f16, options: options)
            say("      bloomkit perplexity \(plain) \(relative(text, root)) -c 64 --kl-divergence \(f16)")
            let baseModel = try BloomModel(path: f16)
            let check = try KLDivergence.compute(model: try BloomModel(path: plain), baseModel: baseModel,
                                                 tokenizer: try baseModel.loadTokenizer(),
                                                 text: try TextFile.read(text),
                                                 context: 64, pool: pool)
            say(String(format: "      PPL %.3f vs %.3f for F16 (%+.2f%%), mean KL divergence %.5f, "
                       + "same top token %.1f%%",
                       check.perplexity.value, check.basePerplexity.value,
                       100 * (check.perplexityRatio.value - 1), check.meanKLD.value, 100 * check.sameTop.value))
            say("      (a 4-bit file: KLD about 0.05–0.07 here; --imatrix from `bloomkit imatrix` lowers it)")
            if let output { say("\nFiles kept in \(output).") }
        }
    }

    private func generate(_ path: String, pool: ThreadPool) throws -> GenerationResult {
        let model = try BloomModel(path: path)
        let tokenizer = try model.loadTokenizer()
        let prompt = try model.promptTemplate().render(instruction: instruction, input: nil)
        let request = GenerationRequest(prompt: prompt, maxTokens: 48, stops: [PromptTemplate.sectionStop])
        return try Generator(model: model, tokenizer: tokenizer, pool: pool).generate(request)
    }

    /// --fixtures, else Tests/Fixtures under the current folder, else next to this source file's checkout.
    private func fixturesFolder() throws -> URL {
        var candidates = [fixtures, FileManager.default.currentDirectoryPath + "/Tests/Fixtures"].compactMap { $0 }
        var source = URL(fileURLWithPath: #filePath)
        while source.pathComponents.count > 1 && source.lastPathComponent != "Sources" {
            source.deleteLastPathComponent()
        }
        candidates.append(source.deletingLastPathComponent().appendingPathComponent("Tests/Fixtures").path)
        for c in candidates where FileManager.default.fileExists(atPath: c + "/models/tiny-b") {
            return URL(fileURLWithPath: c)
        }
        throw BloomError(.io, "cannot find the bundled fixtures (Tests/Fixtures/models/tiny-b); run from the checkout "
                         + "or pass --fixtures")
    }

    /// The header of `inspect`'s report (its lines before the tensor table), indented.
    private func summary(_ report: InspectReport) -> String {
        let header = report.text().components(separatedBy: "\n\n").first ?? ""
        return header.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n") + "\n"
    }

    private func relative(_ path: String, _ root: URL) -> String {
        path.hasPrefix(root.path + "/") ? String(path.dropFirst(root.path.count + 1)) : path
    }

    private func directorySize(_ path: String) throws -> Int {
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        return try names.reduce(0) { sum, name in
            sum + ((try FileManager.default.attributesOfItem(atPath: path + "/" + name)[.size] as? Int) ?? 0)
        }
    }

    private func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
}
