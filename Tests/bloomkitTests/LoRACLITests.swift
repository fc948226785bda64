import Foundation
import TestSupport
import XCTest

/// `convert ADAPTER_DIR` then `generate --lora` as a user runs them: the adapter file verifies, generation with it
/// prints what the merged model prints, and the usage and input errors exit 2 and 1 with one line.
final class LoRACLITests: XCTestCase {
    func testConvertVerifyAndGenerateWithAnAdapter() throws {
        let scratch = try TempDir("cli")
        let (base, adapter) = (try Fixtures.path("models/tiny-a/bin-f32"), try Fixtures.path("adapters/lora-bin-a"))
        let baseFile = scratch.path + "/base.gguf", adapterFile = scratch.path + "/lora.gguf"
        let merged = scratch.path + "/merged.gguf"
        for arguments in [["convert", base, "-o", baseFile, "--type", "f32", "--quiet"],
                          ["convert", adapter, "--base", base, "-o", adapterFile, "--type", "f32", "--quiet"],
                          ["convert", base, "--lora", adapter, "-o", merged, "--type", "f32", "--quiet"]] {
            let result = try CLI.run(arguments, in: scratch.path)
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        let verified = try CLI.run(["verify", adapterFile], in: scratch.path)
        XCTAssertEqual(verified.status, 0, verified.stderr)
        XCTAssertTrue(verified.stdout.contains("LoRA adapter layout holds"), verified.stdout)

        let prompt = ["--prompt", "Return a new list", "--max-tokens", "12"]
        let withAdapter = try CLI.run(["generate", baseFile, "--lora", adapterFile] + prompt, in: scratch.path)
        let mergedOutput = try CLI.run(["generate", merged] + prompt, in: scratch.path)
        XCTAssertEqual(withAdapter.status, 0, withAdapter.stderr)
        XCTAssertEqual(withAdapter.stdout, mergedOutput.stdout)
        let scaledToZero = try CLI.run(["generate", baseFile, "--lora-scaled", adapterFile, "0"] + prompt,
                                       in: scratch.path)
        let plain = try CLI.run(["generate", baseFile] + prompt, in: scratch.path)
        XCTAssertEqual(scaledToZero.stdout, plain.stdout)

        let badScale = try CLI.run(["generate", baseFile, "--lora-scaled", adapterFile, "x"] + prompt,
                                   in: scratch.path)
        XCTAssertEqual(badScale.status, 2, badScale.stderr)
        let modelAsAdapter = try CLI.run(["generate", baseFile, "--lora", merged] + prompt, in: scratch.path)
        XCTAssertEqual(modelAsAdapter.status, 1)
        XCTAssertEqual(modelAsAdapter.errorLines.count, 1, modelAsAdapter.stderr)
        XCTAssertTrue(modelAsAdapter.stderr.hasPrefix("error: ") && modelAsAdapter.stderr.contains("not 'adapter'"),
                      modelAsAdapter.stderr)
    }
}
