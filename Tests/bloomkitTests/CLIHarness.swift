import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `bloomkit` binary as a user would: a subprocess with arguments and environment, its stdout, stderr
/// and exit status or signal. Also builds the inputs the CLI tests need (a model large enough to interrupt, an adapter
/// for it) with plain file writes — no Python, no library calls.
enum CLI {
    /// The `bloomkit` executable next to the test bundle (SwiftPM builds it first: this target depends on it).
    static let binary: String = {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                .appendingPathComponent("bloomkit").path,
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("bloomkit").path,
            Fixtures.repository.appendingPathComponent(".build/debug/bloomkit").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    struct Result {
        /// The exit status, or nil when a signal ended the process.
        var status: Int32?
        var signal: Int32?
        var stdout: String
        var stderr: String
        /// stderr without the progress lines a terminal would overwrite (`\r`).
        var errorLines: [String] {
            stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
                .filter { !$0.contains("\r") && !$0.isEmpty }
        }
    }

    /// A started `bloomkit`, its output going to files (no pipe can fill up and block it).
    final class Running {
        let process = Process()
        let out: URL
        let err: URL
        var pid: Int32 { process.processIdentifier }

        init(_ arguments: [String], environment: [String: String], in scratch: String) throws {
            out = URL(fileURLWithPath: scratch + "/.cli-\(UUID().uuidString).out")
            err = URL(fileURLWithPath: scratch + "/.cli-\(UUID().uuidString).err")
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            _ = FileManager.default.createFile(atPath: err.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: err)
            try process.run()
        }

        func wait() -> Result {
            process.waitUntilExit()
            let signaled = process.terminationReason == .uncaughtSignal
            let result = Result(status: signaled ? nil : process.terminationStatus,
                                signal: signaled ? process.terminationStatus : nil,
                                stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                                stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
            return result
        }
    }

    /// Runs `bloomkit arguments…` to the end.
    static func run(_ arguments: [String], environment: [String: String] = [:], in scratch: String) throws -> Result {
        try Running(arguments, environment: environment, in: scratch).wait()
    }

    /// The tiny F32 fixture model converted by `bloomkit convert` into `scratch/tiny.gguf`; its path.
    static func tinyGGUF(in scratch: String) throws -> String {
        let gguf = scratch + "/tiny.gguf"
        let result = try run(["convert", try Fixtures.path("models/tiny-a/bin-f32"), "-o", gguf, "--quiet"],
                             in: scratch)
        XCTAssertEqual(result.status, 0, result.stderr)
        return gguf
    }
}

/// What a command left in a folder.
extension TempDir {
    /// Names in `folder` (temporaries included), sorted.
    static func names(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { !$0.hasPrefix(".cli-") }.sorted()
    }

    /// bloomkit's temporary files (`.NAME.bloomkit-tmp-PID`) in `folder`.
    static func temporaries(_ folder: String) -> [String] {
        names(folder).filter { $0.contains(".bloomkit-tmp-") }
    }
}

/// Files for the CLI tests, written byte by byte.
enum Inputs {
    /// A safetensors file of F16 tensors with small pseudo-random values (seeded: the same bytes every run).
    static func writeSafetensorsF16(_ tensors: [(name: String, shape: [Int])], to path: String) throws {
        var header = "{\"__metadata__\":{\"format\":\"pt\"}"
        var offset = 0
        for (name, shape) in tensors {
            let bytes = shape.reduce(1, *) * 2
            header += ",\"\(name)\":{\"dtype\":\"F16\",\"shape\":[\(shape.map(String.init).joined(separator: ","))]," +
                "\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        header += "}"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var length = UInt64(header.utf8.count).littleEndian
        try handle.write(contentsOf: Data(bytes: &length, count: 8))
        try handle.write(contentsOf: Data(header.utf8))
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var chunk = [UInt16](repeating: 0, count: 1 << 20)
        var left = offset / 2
        while left > 0 {
            let n = min(left, chunk.count)
            for i in 0..<n {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                // Sign and mantissa random, exponent 8 (|x| in [2^-7, 2^-6)): finite, like trained weights.
                chunk[i] = (UInt16(truncatingIfNeeded: state) & 0x83FF | 0x2000).littleEndian
            }
            try chunk.withUnsafeBytes { try handle.write(contentsOf: Data($0.prefix(n * 2))) }
            left -= n
        }
    }

    /// A BLOOM model folder (config.json, the fixture tokenizer, one F16 safetensors file) of `hidden` × `layers`,
    /// vocabulary 1536: about 12·hidden²·layers·2 bytes, enough for a conversion to take a while.
    static func bigModel(in folder: String, hidden: Int = 512, layers: Int = 4) throws {
        let vocab = 1536
        let config = """
        {"model_type":"bloom","architectures":["BloomForCausalLM"],"hidden_size":\(hidden),"n_layer":\(layers),
         "n_head":8,\
        "vocab_size":\(vocab),"layer_norm_epsilon":1e-05,"bos_token_id":1,"eos_token_id":2,"pad_token_id":3,
            "unk_token_id":0,\
        "apply_residual_connection_post_layernorm":false,"tie_word_embeddings":true,"dtype":"float16"}
        """
        try Data(config.utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(atPath: try Fixtures.path("models/tiny-a/st-bf16-sharded/" + name),
                                             toPath: folder + "/" + name)
        }
        let h = hidden
        var tensors: [(String, [Int])] = [("transformer.word_embeddings.weight", [vocab, h]),
                                          ("transformer.word_embeddings_layernorm.weight", [h]),
                                          ("transformer.word_embeddings_layernorm.bias", [h])]
        for n in 0..<layers {
            let p = "transformer.h.\(n)."
            tensors += [
                (p + "input_layernorm.weight", [h]), (p + "input_layernorm.bias", [h]),
                (p + "self_attention.query_key_value.weight", [3 * h, h]),
                (p + "self_attention.query_key_value.bias", [3 * h]),
                (p + "self_attention.dense.weight", [h, h]), (p + "self_attention.dense.bias", [h]),
                (p + "post_attention_layernorm.weight", [h]), (p + "post_attention_layernorm.bias", [h]),
                (p + "mlp.dense_h_to_4h.weight", [4 * h, h]), (p + "mlp.dense_h_to_4h.bias", [4 * h]),
                (p + "mlp.dense_4h_to_h.weight", [h, 4 * h]), (p + "mlp.dense_4h_to_h.bias", [h]),
            ]
        }
        tensors += [("transformer.ln_f.weight", [h]), ("transformer.ln_f.bias", [h])]
        try writeSafetensorsF16(tensors, to: folder + "/model.safetensors")
    }

    /// A current-layout PEFT adapter (r 8) on every query_key_value of `bigModel`.
    static func adapter(in folder: String, hidden: Int = 512, layers: Int = 4) throws {
        let config = #"{"peft_type":"LORA","task_type":"CAUSAL_LM","r":8,"lora_alpha":16,"# +
            #""target_modules":["query_key_value"],"bias":"none"}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: folder + "/adapter_config.json"))
        var tensors: [(String, [Int])] = []
        for n in 0..<layers {
            let p = "base_model.model.transformer.h.\(n).self_attention.query_key_value."
            tensors += [(p + "lora_A.weight", [8, hidden]), (p + "lora_B.weight", [3 * hidden, 8])]
        }
        try writeSafetensorsF16(tensors, to: folder + "/adapter_model.safetensors")
    }
}

/// Asserts the error contract of a failed command: exit status 1, exactly one `error: …` line on stderr, naming
/// `mentions` (the file, the place…). Returns the line.
@discardableResult
func assertBadInput(_ result: CLI.Result, mentions: [String] = [], _ what: String, line: UInt = #line) -> String {
    XCTAssertEqual(result.status, 1, "\(what): exit status (stderr: \(result.stderr))", line: line)
    let lines = result.errorLines
    XCTAssertEqual(lines.count, 1, "\(what): stderr is not one line: \(result.stderr.debugDescription)", line: line)
    let text = lines.last ?? ""
    XCTAssertTrue(text.hasPrefix("error: "), "\(what): \(text)", line: line)
    for m in mentions { XCTAssertTrue(text.contains(m), "\(what): '\(m)' not in: \(text)", line: line) }
    return text
}
