import Foundation
import TestSupport
import XCTest

/// The CLI's error contract on hostile and malformed inputs: exit status 1 and one `error:` line naming the file, the
/// place and the reason; `--verbose` adds the cause chain; bad usage exits 2.
final class ErrorContractTests: XCTestCase {
    var scratch: TempDir!
    override func setUpWithError() throws { scratch = try TempDir("cli") }
    override func tearDown() { scratch = nil }

    func testHostileFixturesGiveOneLineNamingTheFileAndThePlace() throws {
        let cases: [(file: String, place: String)] = [
            ("os_system.bin", "pickle offset"), ("builtins_eval.bin", "pickle offset"), ("inst.bin", "pickle offset"),
            ("subprocess_popen.bin", "pickle offset"), ("storage_2p60.bin", "tensor 'weight'"),
            ("legacy.bin", "offset 0"),
            ("deep_nesting.bin", "pickle offset"), ("truncated.safetensors", "tensor 'b'"),
            ("overlap.safetensors", "tensor"),
            ("header_too_large.safetensors", "offset 0"), ("bad_json.safetensors", "header byte"),
            ("offset_overflow.safetensors", "tensor"), ("duplicate_key.safetensors", "header byte"),
        ]
        var ran = 0
        for (file, place) in cases {
            let path = Fixtures.root + "/hostile/" + file
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let result = try CLI.run(["inspect", path], in: scratch.path)
            assertBadInput(result, mentions: [path, place], file)
            XCTAssertEqual(result.stdout, "", "\(file): nothing on stdout")
            ran += 1
        }
        XCTAssertGreaterThan(ran, 8, "hostile fixtures are missing")
    }

    func testNoPayloadRunsThroughTheCLI() throws {
        for name in ["os_system", "builtins_eval", "subprocess_popen", "inst", "obj", "newobj"] {
            let path = Fixtures.root + "/hostile/\(name).bin"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let canary = "/tmp/bloomkit-canary-\(name)"
            unlink(canary)
            assertBadInput(try CLI.run(["inspect", path], in: scratch.path), mentions: [path], name)
            // A model folder whose weights are the payload goes through convert's reader too.
            let folder = try scratch.folder("model-\(name)")
            try FileManager.default.copyItem(atPath: try Fixtures.path("models/tiny-a/bin-f32/config.json"),
                                             toPath: folder + "/config.json")
            try FileManager.default.copyItem(atPath: path, toPath: folder + "/pytorch_model.bin")
            let out = scratch.path + "/\(name).gguf"
            assertBadInput(try CLI.run(["convert", folder, "-o", out, "--quiet"], in: scratch.path),
                           mentions: ["pytorch_model.bin"],
                           "convert \(name)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(name): an output was written")
            XCTAssertFalse(FileManager.default.fileExists(atPath: canary), "\(name): the payload ran")
        }
    }

    func testMissingAndUnreadableInputs() throws {
        assertBadInput(try CLI.run(["inspect", scratch.path + "/absent"], in: scratch.path),
                       mentions: [scratch.path + "/absent"],
                       "a path that does not exist")
        let empty = scratch.path + "/empty.safetensors"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        assertBadInput(try CLI.run(["inspect", empty], in: scratch.path), mentions: [empty], "an empty file")
        assertBadInput(try CLI.run(["verify", empty], in: scratch.path), mentions: [empty], "verify of an empty file")
        let folder = try scratch.folder("not-a-model")
        assertBadInput(try CLI.run(["convert", folder, "-o", scratch.path + "/x.gguf"], in: scratch.path),
                       mentions: [folder],
                       "convert of an empty folder")
    }

    func testAnOutputFolderThatDoesNotExistIsNamed() throws {
        let output = scratch.path + "/no/such/folder/x.gguf"
        let model = try Fixtures.path("models/tiny-a/bin-f32")
        let line = assertBadInput(try CLI.run(["convert", model, "-o", output, "--quiet"], in: scratch.path),
                                  mentions: [output], "output in a missing folder")
        XCTAssertFalse(line.contains("bloomkit-tmp"), "the message names a temporary file, not the output: \(line)")
    }

    func testVerboseAddsTheCauseChain() throws {
        let path = try Fixtures.path("hostile/bad_json.safetensors")
        let plain = try CLI.run(["inspect", path], in: scratch.path)
        assertBadInput(plain, mentions: [path], "without --verbose")
        let verbose = try CLI.run(["inspect", path, "--verbose"], in: scratch.path)
        XCTAssertEqual(verbose.status, 1)
        let lines = verbose.errorLines
        XCTAssertEqual(lines.first, plain.errorLines.first.map { $0 + " [safetensors-invalid-header]" }, verbose.stderr)
        XCTAssertTrue(lines.dropFirst().contains { $0.hasPrefix("  caused by: ") && $0.contains("invalid JSON") },
                      verbose.stderr)
    }

    func testBadUsageExitsTwo() throws {
        let model = try Fixtures.path("models/tiny-a/bin-f32")
        let adapter = try Fixtures.path("adapters/alpaca-b")
        let out = scratch.path + "/x.gguf"
        let cases: [(String, [String])] = [
            ("no argument", ["inspect"]),
            ("an unknown option", ["inspect", model, "--bogus"]),
            ("an unknown subcommand", ["frobnicate"]),
            ("convert without -o", ["convert", model]),
            ("an unknown --type", ["convert", model, "-o", out, "--type", "q9"]),
            ("a --tensor-type without '='", ["convert", model, "-o", out, "--tensor-type", "x"]),
            ("--threads 0", ["convert", model, "-o", out, "--threads", "0"]),
            ("quantize to an unknown type", ["quantize", out, "-o", out + "2", "--type", "q3"]),
            ("merge without adapters", ["merge", model, "-o", scratch.path + "/m"]),
            ("merge to an unknown dtype", ["merge", model, adapter, "-o", scratch.path + "/m", "--dtype", "f8"]),
            ("a shard size that is not a size", ["merge", model, adapter, "-o", scratch.path + "/m", "--max-shard-size",
                                                 "banana"]),
        ]
        for (what, arguments) in cases {
            let result = try CLI.run(arguments, in: scratch.path)
            XCTAssertEqual(result.status, 2, "\(what): \(result.stderr)")
            XCTAssertFalse(result.stderr.isEmpty, "\(what): no message")
        }
        XCTAssertEqual(TempDir.names(scratch.path), [], "bad usage wrote something")
    }
}
