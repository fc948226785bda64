import Foundation
import TestSupport
import XCTest

/// `--type`, `--output-tensor-type`, `--embedding-type`, `--tensor-type` and `--pure` of `convert` and `quantize`,
/// as a user types them.
final class TypeOptionsCLITests: XCTestCase {
    var scratch: TempDir!
    var source = ""

    override func setUpWithError() throws {
        scratch = try TempDir("cli")
        source = scratch.path + "/untied-f16.gguf"
        let result = try CLI.run(["convert", try Fixtures.path("models/tiny-b/st-f16"), "-o", source, "--type", "f16",
                                  "--separate-output", "--quiet"], in: scratch.path)
        XCTAssertEqual(result.status, 0, result.stderr)
    }
    override func tearDown() { scratch = nil }

    /// Quantizes the untied F16 file; returns each tensor's type (from `inspect --json`) and the run.
    func quantize(_ arguments: [String]) throws -> (types: [String: String], result: CLI.Result) {
        let out = scratch.path + "/out.gguf"
        let result = try CLI.run(["quantize", source, "-o", out, "--quiet"] + arguments, in: scratch.path)
        guard result.status == 0 else { return ([:], result) }
        let inspect = try CLI.run(["inspect", out, "--json"], in: scratch.path)
        let json = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
        var types: [String: String] = [:]
        for t in json?["tensors"] as? [[String: Any]] ?? [] {
            if let name = t["name"] as? String, let type = t["type"] as? String { types[name] = type }
        }
        return (types, result)
    }

    func testOutputAndEmbeddingTypesTouchOnlyTheirTensor() throws {
        let plain = try quantize(["--type", "Q8_0"])
        XCTAssertEqual(plain.result.status, 0, plain.result.stderr)
        let head = try quantize(["--type", "q8_0", "--output-tensor-type", "Q4_0"])
        let embedding = try quantize(["--type", "q8_0", "--embedding-type", "q4_0"])
        XCTAssertEqual(head.types["output.weight"], "q4_0")
        XCTAssertEqual(embedding.types["token_embd.weight"], "q4_0")
        for (name, type) in plain.types {
            if name != "output.weight" { XCTAssertEqual(head.types[name], type, name) }
            if name != "token_embd.weight" { XCTAssertEqual(embedding.types[name], type, name) }
        }
        XCTAssertEqual(plain.types["output.weight"], "q8_0")
        XCTAssertEqual(plain.types["token_embd.weight"], "q8_0")
    }

    func testAPatternThatMatchesNothingIsAWarning() throws {
        let run = try quantize(["--type", "q8_0", "--tensor-type", "attn_qkv=q4_1", "--tensor-type", "no_such=q4_0"])
        XCTAssertEqual(run.result.status, 0, run.result.stderr)
        XCTAssertEqual(run.result.errorLines,
                       ["warning: --tensor-type pattern 'no_such' matches no quantizable tensor"])
        XCTAssertEqual(run.types["blk.2.attn_qkv.weight"], "q4_1")
    }

    func testUnknownTypesAreUsageErrorsAndHelpListsEveryType() throws {
        for arguments in [["--type", "q4_k_x"], ["--type", "q8_0", "--output-tensor-type", "q4_k_m"],
                          ["--type", "q8_0", "--tensor-type", "ffn_up=q9"]] {
            let run = try quantize(arguments)
            XCTAssertEqual(run.result.status, 2, arguments.joined(separator: " "))
        }
        for verb in ["convert", "quantize"] {
            let help = try CLI.run([verb, "--help"], in: scratch.path)
            let lines = help.stdout.split(separator: "\n").map(String.init)
            for name in ["F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_1", "Q5_0", "Q5_K_M", "Q5_K_S", "Q4_1", "Q4_0",
                         "Q4_K_M", "Q4_K_S", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K"] {
                let rows = lines.filter { $0.hasPrefix("  \(name) ") && $0.contains(".") }
                XCTAssertEqual(rows.count, 1, "\(verb) \(name)")
            }
        }
    }
}
