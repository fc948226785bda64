import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Issue 11's failure classes, through the CLI as a user meets them: outputs that would destroy an input, special
/// files that would hang a reader, sizes that would trap, memory sized by a small input, nonsense accepted silently,
/// usage edges. Each case states the class it pins.
final class HostileCLITests: XCTestCase {
    var scratch: TempDir!
    override func setUpWithError() throws { scratch = try TempDir("cli") }
    override func tearDown() { scratch = nil }

    /// Runs `bloomkit` and kills it after `seconds` (a hang is a failure, not a stuck test run).
    func run(_ arguments: [String], seconds: Double = 60, line: UInt = #line) throws -> CLI.Result {
        let running = try CLI.Running(arguments, environment: [:], in: scratch.path)
        let deadline = Date().addingTimeInterval(seconds)
        while running.process.isRunning, Date() < deadline { usleep(20_000) }
        if running.process.isRunning {
            kill(running.pid, SIGKILL)
            XCTFail("bloomkit \(arguments.joined(separator: " ")) was still running after \(seconds) s", line: line)
        }
        return running.wait()
    }

    /// A copy of the tiny-b f16 model folder (never the fixture itself: some cases point outputs into it).
    func modelCopy(_ name: String = "model") throws -> String {
        let folder = try scratch.folder(name)
        let source = try Fixtures.path("models/tiny-b/st-f16")
        for file in try FileManager.default.contentsOfDirectory(atPath: source) {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: folder + "/" + file)
        }
        return folder
    }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    func fileKind(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0
    }

    // MARK: outputs that destroy inputs

    func testConvertIntoItsOwnWeightsIsRefusedAndTheWeightsStay() throws {
        let model = try modelCopy()
        let weights = model + "/model.safetensors", config = model + "/config.json"
        let before = bytes(weights)
        for output in [weights, config, model + "/tokenizer.json"] {
            assertBadInput(try run(["convert", model, "-o", output, "--quiet"]),
                           mentions: [output, "one of the inputs"], "convert -o \(output)")
        }
        XCTAssertEqual(bytes(weights), before, "the source weights were replaced")
        XCTAssertTrue(TempDir.temporaries(model).isEmpty)
    }

    func testQuantizeOntoItsInputByPathSymlinkOrHardLinkIsRefused() throws {
        let model = try modelCopy()
        let gguf = scratch.path + "/x.gguf"
        XCTAssertEqual(try run(["convert", model, "-o", gguf, "--quiet"]).status, 0)
        let before = bytes(gguf)
        let link = scratch.path + "/link.gguf", hard = scratch.path + "/hard.gguf"
        XCTAssertEqual(symlink(gguf, link), 0)
        XCTAssertEqual(Glibc.link(gguf, hard), 0)
        for output in [gguf, link, hard] {
            assertBadInput(try run(["quantize", gguf, "-o", output, "--type", "q8_0", "--quiet"]),
                           mentions: [output, "one of the inputs"], "quantize -o \(output)")
        }
        XCTAssertEqual(bytes(gguf), before, "the input was replaced")
        XCTAssertEqual(fileKind(link), S_IFLNK)
    }

    func testDevicesAndFIFOsAreNeverReplaced() throws {
        let model = try modelCopy()
        let null = scratch.path + "/null.gguf", pipe = scratch.path + "/pipe.gguf"
        XCTAssertEqual(symlink("/dev/null", null), 0)
        XCTAssertEqual(mkfifo(pipe, 0o600), 0)
        for output in ["/dev/null", null, pipe] {
            assertBadInput(try run(["convert", model, "-o", output, "--quiet"], seconds: 60),
                           mentions: [output, "not a regular file"], "convert -o \(output)")
        }
        XCTAssertEqual(fileKind("/dev/null"), S_IFCHR)
        XCTAssertEqual(fileKind(null), S_IFLNK)
        XCTAssertEqual(fileKind(pipe), S_IFIFO)
    }

    func testALegal250ByteOutputNameIsWritten() throws {
        let model = try modelCopy()
        let name = String(repeating: "n", count: 245) + ".gguf"
        let result = try run(["convert", model, "-o", scratch.path + "/" + name, "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.path + "/" + name))
        XCTAssertTrue(TempDir.temporaries(scratch.path).isEmpty)
    }

    // MARK: special files that hang readers

    func testFIFOsInPlaceOfInputFilesAreRefusedAtOnce() throws {
        let cases: [(file: String, arguments: (String) -> [String])] = [
            ("model.safetensors", { ["convert", $0, "-o", $0 + "/../out.gguf", "--quiet"] }),
            ("config.json", { ["convert", $0, "-o", $0 + "/../out.gguf", "--quiet"] }),
            ("tokenizer.json", { ["convert", $0, "-o", $0 + "/../out.gguf", "--quiet"] }),
            ("tokenizer.json", { ["tokenize", $0, "hello"] }),
            ("model.safetensors", { ["inspect", $0] }),
        ]
        for (k, (file, arguments)) in cases.enumerated() {
            let model = try modelCopy("fifo-\(k)")
            XCTAssertEqual(unlink(model + "/" + file), 0)
            XCTAssertEqual(mkfifo(model + "/" + file, 0o600), 0)
            assertBadInput(try run(arguments(model), seconds: 30), mentions: [file, "FIFO"],
                           "\(file): \(arguments(model))")
        }
        let adapter = try scratch.folder("adapter")
        XCTAssertEqual(mkfifo(adapter + "/adapter_config.json", 0o600), 0)
        XCTAssertTrue(FileManager.default.createFile(atPath: adapter + "/adapter_model.safetensors", contents: Data()))
        assertBadInput(try run(["merge", try modelCopy("base"), adapter, "-o", scratch.path + "/merged"], seconds: 30),
                       mentions: ["adapter_config.json", "FIFO"], "adapter_config.json FIFO")
        let text = scratch.path + "/text.txt"
        XCTAssertEqual(mkfifo(text, 0o600), 0)
        assertBadInput(try run(["tokenize", try Fixtures.path("tokenizer/tokenizer.json"), "--file", text],
                               seconds: 30),
                       mentions: [text, "FIFO"], "tokenize --file FIFO")
        // a FIFO named as the model of every verb that reads a GGUF or a packed file
        let gguf = scratch.path + "/pipe.gguf", plain = scratch.path + "/plain.txt"
        XCTAssertEqual(mkfifo(gguf, 0o600), 0)
        XCTAssertTrue(FileManager.default.createFile(atPath: plain, contents: Data("some text".utf8)))
        for verb in [["inspect"], ["verify"], ["generate", "-p", "hi"], ["bench", "-r", "1"],
                     ["perplexity", "--file", plain], ["quantize", "-o", scratch.path + "/q.gguf", "--type", "q8_0"],
                     ["unpack", "-o", scratch.path + "/u"]] {
            let result = try run([verb[0], gguf] + verb.dropFirst(), seconds: 30)
            assertBadInput(result, mentions: [gguf], "\(verb[0]) of a FIFO")
            XCTAssertTrue(result.stderr.contains("FIFO") || result.stderr.contains("not a regular file"), result.stderr)
        }
    }

    // MARK: traps and memory

    func testHugeAndNonFiniteShardSizesAreUsageErrors() throws {
        for size in ["1e30GB", "infTB", "nanGB", "99999999999TiB"] {
            let result = try run(["merge", "a", "b", "-o", scratch.path + "/m", "--max-shard-size", size])
            XCTAssertEqual(result.status, 2, "\(size): \(result.stderr)")
            XCTAssertNil(result.signal, "\(size): a trap")
        }
    }

    func testTextFilesPastTheLimitAreRefusedBeforeReading() throws {
        let text = scratch.path + "/big.txt"
        let fd = open(text, O_WRONLY | O_CREAT, 0o644)
        XCTAssertEqual(ftruncate(fd, 1_200_000_000), 0)  // sparse 1.2 GB
        close(fd)
        let tokenizer = try Fixtures.path("tokenizer/tokenizer.json")
        assertBadInput(try run(["tokenize", tokenizer, "--file", text], seconds: 30),
                       mentions: [text, "past the limit of 33554432"], "tokenize --file of 1.2 GB")
        assertBadInput(try run(["perplexity", "/nonexistent.gguf", text], seconds: 30),
                       mentions: [text, "past the limit of 33554432"], "perplexity of 1.2 GB, checked before the model")
    }

    func testTokenizeJSONIsStreamedAndUnchanged() throws {
        let tokenizer = try Fixtures.path("tokenizer/tokenizer.json")
        let text = scratch.path + "/t.txt"
        try Data(String(repeating: "Hello \"world\"\n\t東京 ", count: 5000).utf8).write(to: URL(fileURLWithPath: text))
        let json = try run(["tokenize", tokenizer, "--file", text, "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: [Any]]
        let ids = object?["ids"] as? [Int], pieces = object?["pieces"] as? [String]
        XCTAssertEqual(ids?.count, pieces?.count)
        XCTAssertGreaterThan(ids?.count ?? 0, 10_000)
        XCTAssertTrue(json.stdout.hasPrefix("{\"ids\":["), String(json.stdout.prefix(40)))
    }

    // MARK: silent success on nonsense

    func testAConfigWithFewerLayersThanTheWeightsIsRefused() throws {
        let model = try modelCopy()
        let config = model + "/config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "\"n_layer\": 3",
                                                                                            with: "\"n_layer\": 1")
        try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        let out = scratch.path + "/x.gguf"
        assertBadInput(try run(["convert", model, "-o", out, "--quiet"]), mentions: [model, "h.1.", "n_layer 1"],
                       "n_layer 1 with weights for 3 layers")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testAbsurdLoraAlphaIsRefused() throws {
        let adapter = try scratch.folder("adapter")
        let source = try Fixtures.path("adapters/alpaca-b")
        try FileManager.default.copyItem(atPath: source + "/adapter_model.safetensors",
                                         toPath: adapter + "/adapter_model.safetensors")
        let config = try String(contentsOfFile: source + "/adapter_config.json", encoding: .utf8)
        let hostile = config.replacingOccurrences(of: #""lora_alpha": [0-9.]+"#, with: #""lora_alpha": 1e38"#,
                                                  options: .regularExpression)
        XCTAssertNotEqual(hostile, config)
        try Data(hostile.utf8).write(to: URL(fileURLWithPath: adapter + "/adapter_config.json"))
        let out = scratch.path + "/merged"
        assertBadInput(try run(["merge", try modelCopy(), adapter, "-o", out, "--quiet"]),
                       mentions: ["adapter_config.json", "lora_alpha"], "lora_alpha 1e38")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/config.json"))
    }

    func testNonFiniteMergeResultsAreRefusedUnlessAllowed() throws {
        let adapter = try scratch.folder("nan-adapter")
        let source = try Fixtures.path("adapters/alpaca-b")
        for file in ["adapter_config.json", "adapter_model.safetensors"] {
            try FileManager.default.copyItem(atPath: source + "/" + file, toPath: adapter + "/" + file)
        }
        // NaN as the first value of one lora_B: the merged row it reaches is NaN.
        let weights = URL(fileURLWithPath: adapter + "/adapter_model.safetensors")
        var bytes = try Data(contentsOf: weights)
        let headerLength = Int(bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }.byteSwapped)
        let header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<8 + headerLength)) as? [String: Any]
        let module = "transformer.h.0.mlp.dense_4h_to_h"
        let entry = header?["base_model.model.\(module).lora_B.weight"] as? [String: Any]
        let at = 8 + headerLength + (try XCTUnwrap((entry?["data_offsets"] as? [Int])?.first))
        bytes.replaceSubrange(at..<at + 4, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) })
        try bytes.write(to: weights)
        let model = try modelCopy("tiny-b")  // the base the adapter names: no warning about another base
        let out = scratch.path + "/merged"
        assertBadInput(try run(["merge", model, adapter, "-o", out, "--quiet"]),
                       mentions: ["'\(module).weight'", "--allow-non-finite"], "a NaN in lora_B")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let kept = try run(["merge", model, adapter, "-o", out, "--quiet", "--allow-non-finite"])
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertTrue(kept.stderr.hasPrefix("warning: kept 1 merged tensor(s)"), kept.stderr)
        XCTAssertTrue(kept.stderr.contains("'\(module).weight'"), kept.stderr)
    }

    // MARK: errors that name their file

    func testConversionErrorsNameTheModelFolder() throws {
        let model = try modelCopy()
        let config = model + "/config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "\"tie_word_embeddings\": true", with: "\"tie_word_embeddings\": false")
        try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        assertBadInput(try run(["convert", model, "-o", scratch.path + "/x.gguf", "--quiet"]),
                       mentions: [model, "lm_head.weight"], "untied head without lm_head")
    }

    /// A weight of a dtype convert cannot read, a config whose vocabulary the embedding does not have, and a
    /// tokenizer id past the vocabulary: each error names the folder or the file that holds the fault.
    func testDtypeAndVocabularyErrorsNameTheirFile() throws {
        // every tensor's header dtype F16 → I16 (the same byte count, so only the dtype is wrong)
        let dtype = try modelCopy("dtype")
        let weights = dtype + "/model.safetensors"
        var data = try XCTUnwrap(bytes(weights))
        let length = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) })
        let header = String(decoding: data[8..<8 + length], as: UTF8.self)
        let i16 = header.replacingOccurrences(of: "\"F16\"", with: "\"I16\"")
        data.replaceSubrange(8..<8 + length, with: Data(i16.utf8))
        try data.write(to: URL(fileURLWithPath: weights))
        assertBadInput(try run(["convert", dtype, "-o", scratch.path + "/d.gguf", "--quiet"]),
                       mentions: [dtype, "I16"], "a weight stored as I16")

        func edit(_ path: String, _ old: String, _ new: String) throws {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            XCTAssertTrue(text.contains(old), "\(path) has no \(old)")
            try Data(text.replacingOccurrences(of: old, with: new).utf8).write(to: URL(fileURLWithPath: path))
        }
        let rows = try modelCopy("rows")
        try edit(rows + "/config.json", "\"vocab_size\": 1536", "\"vocab_size\": 1600")
        assertBadInput(try run(["convert", rows, "-o", scratch.path + "/r.gguf", "--quiet"]),
                       mentions: [rows, "config.json", "word_embeddings.weight", "1600"],
                       "config vocab_size past the embedding's rows")

        // tokenizers numbers new added tokens from the model vocabulary's size (1500 here; vocab_size is 1536): the
        // 37th takes id 1536, one past the embedding
        let ids = try modelCopy("ids")
        let added = (0..<37).map { #"{"id":0,"content":"<added\#($0)>","special":true},"# }.joined()
        try edit(ids + "/tokenizer.json", #""added_tokens":["#, #""added_tokens":["# + added)
        assertBadInput(try run(["convert", ids, "-o", scratch.path + "/i.gguf", "--quiet"]),
                       mentions: [ids + "/tokenizer.json", "<added36>", "1536"], "a token id past the vocabulary")
        let outputs = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.hasSuffix(".gguf") }
        XCTAssertEqual(outputs, [], "an output was written")
    }

    // MARK: usage edges

    func testMalformedTensorTypePatternsAreUsageErrors() throws {
        let model = try modelCopy()
        for pattern in ["(attn=q8_0", "[=q8_0", "ffn_(up|down=q4_0", #"a\1=q8_0"#] {
            let result = try run(["convert", model, "-o", scratch.path + "/x.gguf", "--tensor-type", pattern])
            XCTAssertEqual(result.status, 2, "\(pattern): \(result.stderr)")
        }
    }

    func testBacktrackingPatternsRunInLinearTime() throws {
        let model = try modelCopy()
        let start = Date()
        let result = try run(["convert", model, "-o", scratch.path + "/x.gguf", "--quiet", "--type", "q8_0",
                              "--tensor-type", "^(a|a?)+(a|a?)+(a|a?)+(a|a?)+(a|a?)+b$=q4_0",
                              "--tensor-type", "(.*)*(.*)*(.*)*(.*)*x$=q4_0"], seconds: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }
}
