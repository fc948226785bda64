import Foundation
import TestSupport
import XCTest

/// What a person used to llama.cpp's tools expects of bloomkit (issue 15): random printed seeds, beam timings, hints
/// that name the real problem, --force, tokenize --stdin/--ids, llama-quantize's positional form, bench lists.
final class LlamaCppHabitsTests: XCTestCase {
    var scratch: TempDir!
    var gguf = ""

    override func setUpWithError() throws {
        scratch = try TempDir("cli")
        gguf = try CLI.tinyGGUF(in: scratch.path)
    }
    override func tearDown() { scratch = nil }

    func run(_ arguments: [String]) throws -> CLI.Result { try CLI.run(arguments, in: scratch.path) }

    /// The seed named on stderr ("seed N (--seed N repeats this answer)").
    func seed(_ result: CLI.Result) -> UInt64? {
        guard let line = result.errorLines.first(where: { $0.hasPrefix("seed ") }) else { return nil }
        return UInt64(line.dropFirst(5).prefix { $0.isNumber })
    }

    func testSamplingWithoutASeedPicksARandomOneAndPrintsIt() throws {
        let args = ["generate", gguf, "--prompt", "Hello", "--temperature", "0.8", "--top-k", "0", "-n", "24"]
        let a = try run(args), b = try run(args)
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(b.status, 0, b.stderr)
        let seedA = try XCTUnwrap(seed(a), a.stderr), seedB = try XCTUnwrap(seed(b), b.stderr)
        XCTAssertNotEqual(seedA, seedB, "two runs without --seed used the same seed")
        // The printed seed repeats the answer; a fixed seed is not printed again as random but still named.
        let again = try run(args + ["--seed", String(seedA)])
        XCTAssertEqual(again.stdout, a.stdout)
        XCTAssertEqual(seed(again), seedA)
        let json = try run(args + ["--seed", "7", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["seed"] as? Int, 7)
        // Greedy decoding uses no seed: none is printed.
        XCTAssertNil(seed(try run(["generate", gguf, "--prompt", "Hello", "-n", "4"])))
    }

    /// A file's general.sampling.* keys (here from a --metadata file) are generate's defaults, as in llama.cpp's
    /// tools: no flag samples as the flags naming the same settings do; a flag still wins; beam search ignores them.
    func testFileRecommendedSamplingSettingsAreTheDefaults() throws {
        let metadata = scratch.path + "/sampling.json"
        try Data(#"{"general.sampling.temp": 0.9, "general.sampling.top_k": 0, "general.sampling.top_p": 0.95}"#.utf8)
            .write(to: URL(fileURLWithPath: metadata))
        let recommending = scratch.path + "/recommending.gguf"
        let converted = try run(["convert", try Fixtures.path("models/tiny-a/bin-f32"), "-o", recommending,
                                 "--metadata", metadata, "--quiet"])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        let prompt = ["--prompt", "Hello", "-n", "24", "--seed", "11"]
        let byFile = try run(["generate", recommending] + prompt)
        let byFlags = try run(["generate", gguf, "--temp", "0.9", "--top-k", "0", "--top-p", "0.95"] + prompt)
        XCTAssertEqual(byFile.status, 0, byFile.stderr)
        XCTAssertEqual(byFile.stdout, byFlags.stdout)
        XCTAssertEqual(seed(byFile), 11, "sampling names its seed")
        let greedy = try run(["generate", gguf] + prompt)
        XCTAssertNotEqual(byFile.stdout, greedy.stdout, "the file's temperature was not used")
        XCTAssertEqual(try run(["generate", recommending, "--temp", "0"] + prompt).stdout, greedy.stdout)
        XCTAssertEqual(try run(["generate", recommending, "--beams", "2"] + prompt).stdout,
                       try run(["generate", gguf, "--beams", "2"] + prompt).stdout)
    }

    /// Timings of one JSON generation.
    func timings(_ extra: [String]) throws -> [String: Double] {
        let result = try run(["generate", gguf, "--prompt", String(repeating: "Hello world. ", count: 40), "-n", "4",
                              "--threads", "1", "--json"] + extra)
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return (object?["timings"] as? [String: Double]) ?? [:]
    }

    func testBeamSearchReportsPromptRateAndFirstToken() throws {
        // Beam search processes the prompt once, as greedy decoding does; prompt work per beam would make its rate 4×
        // lower. Runs alternate (a busy machine slows both alike) and the bound is 2× (timing, not a benchmark).
        var greedy: [Double] = [], beams: [Double] = []
        for _ in 0..<5 {
            greedy.append(try timings([])["prompt_tokens_per_s"] ?? 0)
            beams.append(try timings(["--beams", "4"])["prompt_tokens_per_s"] ?? 0)
        }
        let g = greedy.sorted()[2], b = beams.sorted()[2]
        XCTAssertGreaterThan(g, 0)
        XCTAssertGreaterThan(b, 0)
        XCTAssertGreaterThan(b / g, 0.5, "beam prompt rate \(beams) vs greedy \(greedy)")
        XCTAssertLessThan(b / g, 2, "beam prompt rate \(beams) vs greedy \(greedy)")
        XCTAssertGreaterThan(try timings(["--beams", "4"])["first_token_ms"] ?? 0, 0)
    }

    func testHintsNameTheRealProblem() throws {
        // ArgumentParser checks usage before it reports unknown options: the unknown option must win.
        for args in [["-q", "The"], ["--frobnicate", "3", "--prompt", "x"]] {
            let unknown = try run(["generate", gguf] + args)
            XCTAssertEqual(unknown.status, 2, unknown.stderr)
            XCTAssertTrue(unknown.stderr.contains("nknown option '\(args[0])'"), unknown.stderr)
            XCTAssertFalse(unknown.stderr.contains("give either"), unknown.stderr)
        }
        XCTAssertTrue(try run(["generate", gguf]).stderr.contains("give either --instruction or --prompt"))
        // llama-cli's short names work.
        XCTAssertEqual(try run(["generate", gguf, "-p", "Hello", "-n", "2", "-t", "1"]).status, 0)

        let folder = try scratch.folder("merged")
        try FileManager.default.copyItem(atPath: try Fixtures.path("models/tiny-a/bin-f32/config.json"),
                                         toPath: folder + "/config.json")
        for verb in [["generate", folder, "--prompt", "x"], ["perplexity", folder, gguf], ["bench", folder],
                     ["verify", folder], ["quantize", folder, scratch.path + "/q.gguf", "q8_0"]] {
            assertBadInput(try run(verb), mentions: [folder, "this is a model folder: convert it first"], verb[0])
        }
        let adapter = try Fixtures.path("adapters/rslora-a")
        assertBadInput(try run(["generate", adapter, "--prompt", "x"]),
                       mentions: [adapter, "this is a LoRA adapter folder", "--lora"], "an adapter folder")
    }

    func testVerifyOfAFileWithoutChecksums() throws {
        let foreign = try Fixtures.path("expected/gguf/llama-cpp-tiny-a-q8_0.gguf")
        assertBadInput(try run(["verify", foreign]), mentions: [foreign, "--allow-missing-checksums"], "no checksums")
        let allowed = try run(["verify", foreign, "--allow-missing-checksums"])
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertTrue(allowed.stdout.contains("no checksums present"), allowed.stdout)
        XCTAssertFalse(allowed.stdout.contains("0 checksums"), allowed.stdout)
    }

    func testMergeForceReplacesAnExistingFolder() throws {
        let base = try Fixtures.path("models/tiny-a/st-bf16-sharded")
        let adapter = try Fixtures.path("adapters/rslora-a")
        let out = try scratch.folder("out")
        try Data("old".utf8).write(to: URL(fileURLWithPath: out + "/stale.txt"))
        assertBadInput(try run(["merge", base, adapter, "-o", out, "--quiet"]), mentions: [out, "not empty"],
                       "no --force")
        let forced = try run(["merge", base, adapter, "-o", out, "--quiet", "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        let names = TempDir.names(out)
        XCTAssertTrue(names.contains("config.json"), "\(names)")
        XCTAssertFalse(names.contains("stale.txt"), "\(names)")
        XCTAssertEqual(TempDir.names(scratch.path).filter { $0.contains("bloomkit") }, [], "staging left behind")
        // A folder holding an input is never replaced.
        let holder = try scratch.folder("holder")
        try FileManager.default.copyItem(atPath: adapter, toPath: holder + "/adapter")
        assertBadInput(try run(["merge", base, holder + "/adapter", "-o", holder, "--quiet", "--overwrite"]),
                       mentions: [holder, "holds an input"], "an input inside")
        XCTAssertTrue(FileManager.default.fileExists(atPath: holder + "/adapter/adapter_config.json"))
    }

    func testTokenizeStdinAndIds() throws {
        let plain = try run(["tokenize", gguf, "Hello world", "--ids"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stdout.hasPrefix("[") && plain.stdout.hasSuffix("]\n"), plain.stdout)
        let json = try run(["tokenize", gguf, "Hello world", "--json"])
        let ids = (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["ids"] as? [Int]
        XCTAssertEqual(plain.stdout, "[" + (ids ?? []).map(String.init).joined(separator: ", ") + "]\n")
        let input = scratch.path + "/in.txt"
        try Data("Hello world".utf8).write(to: URL(fileURLWithPath: input))
        let piped = try shell("\"$0\" tokenize \"$1\" --stdin --ids < \"$2\"", [CLI.binary, gguf, input])
        XCTAssertEqual(piped.stdout, plain.stdout, piped.stderr)
        XCTAssertEqual(try run(["tokenize", gguf, "x", "--stdin"]).status, 2)
    }

    /// `sh -c script arguments…`, its output through pipes.
    func shell(_ script: String, _ arguments: [String]) throws -> CLI.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLI.Result(status: process.terminationStatus, signal: nil,
                          stdout: String(decoding: stdout, as: UTF8.self),
                          stderr: String(decoding: stderr, as: UTF8.self))
    }

    func testQuantizeTakesLlamaQuantizesPositionalForm() throws {
        let positional = scratch.path + "/pos.gguf", options = scratch.path + "/opt.gguf"
        XCTAssertEqual(try run(["quantize", gguf, positional, "q8_0", "--quiet"]).status, 0)
        XCTAssertEqual(try run(["quantize", gguf, "-o", options, "--type", "q8_0", "--quiet"]).status, 0)
        let a = try Data(contentsOf: URL(fileURLWithPath: positional))
        let b = try Data(contentsOf: URL(fileURLWithPath: options))
        XCTAssertEqual(a.count, b.count)
        XCTAssertEqual(try run(["quantize", gguf, positional, "q8_0", "-o", options]).status, 2)
        XCTAssertEqual(try run(["quantize", gguf, positional]).status, 2)
    }

    func testBenchTakesCommaListsAndSeveralModels() throws {
        let result = try run(["bench", gguf, "-m", gguf, "-p", "8,16", "-n", "4", "-r", "1", "--threads", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let rows = result.stdout.split(separator: "\n").filter { $0.hasPrefix("| tiny.gguf") }
        XCTAssertEqual(rows.map { $0.split(separator: "|")[4].trimmingCharacters(in: .whitespaces) },
                       ["pp8", "pp16", "tg4", "pp8", "pp16", "tg4"])
        let json = try run(["bench", gguf, "-p", "8,16", "-n", "0", "-r", "1", "--json"])
        let list = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        XCTAssertEqual(list?.compactMap { $0["n_prompt"] as? Int }, [8, 16])
        XCTAssertEqual(try run(["bench", gguf, "-p", "8,x"]).status, 2)
    }

    /// The type column is the file type llama-bench prints (llama_ftype_name of general.file_type), not the type of
    /// one tensor: a Q4_K_M file's first attn_qkv is of another type (the "more bits" layers, or a fallback).
    func testBenchNamesTheFileType() throws {
        let q4km = scratch.path + "/q4km.gguf"
        XCTAssertEqual(try run(["quantize", gguf, q4km, "Q4_K_M", "--quiet"]).status, 0)
        let json = try run(["bench", q4km, "-p", "4", "-n", "0", "-r", "1", "--threads", "1", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["type"] as? String, "Q4_K - Medium")
        let table = try run(["bench", q4km, "-p", "4", "-n", "0", "-r", "1", "--threads", "1"])
        XCTAssertTrue(table.stdout.contains("| q4km.gguf | Q4_K - Medium |"), table.stdout)
    }

    func testPerplexityDefaultsToLlamaPerplexitysContext() throws {
        let text = scratch.path + "/t.txt"
        try Data(String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 30).utf8)
            .write(to: URL(fileURLWithPath: text))
        // Fewer than 2 × 512 tokens: refused as llama-perplexity refuses it, naming the need.
        assertBadInput(try run(["perplexity", gguf, text]), mentions: ["context 512", "needs at least 1024"],
                       "short text")
        XCTAssertEqual(try run(["perplexity", gguf, text, "-c", "64", "--threads", "1"]).status, 0)
    }

    func testInspectAlignsColumnsAndSummarizes() throws {
        let full = try run(["inspect", gguf])
        XCTAssertEqual(full.status, 0, full.stderr)
        let lines = full.stdout.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("  name ") }, full.stdout)
        let rows = Array(lines[(header + 1)...])
        XCTAssertEqual(rows.count, 29)
        // Every column starts where its heading starts (offset and size end where theirs end).
        for heading in ["type", "ne", "shape"] {
            let column = lines[header].range(of: " \(heading) ")!.lowerBound.utf16Offset(in: lines[header]) + 1
            for row in rows {
                let at = row.index(row.startIndex, offsetBy: column)
                XCTAssertEqual(row[row.index(before: at)], " ", "\(heading): \(row)")
                XCTAssertNotEqual(row[at], " ", "\(heading): \(row)")
            }
        }
        XCTAssertEqual(Set(rows.map { $0.count }), Set([lines[header].count]), "right-aligned offset and size")
        let summary = try run(["inspect", gguf, "--summary"])
        XCTAssertEqual(summary.status, 0, summary.stderr)
        XCTAssertFalse(summary.stdout.contains("blk.0."), summary.stdout)
        XCTAssertTrue(summary.stdout.contains("tensors by type:"), summary.stdout)
        XCTAssertTrue(summary.stdout.contains("f16  ") && summary.stdout.contains("f32  "), summary.stdout)
        XCTAssertEqual(summary.stdout.split(separator: "\n").first.map(String.init), lines.first)
    }
}
