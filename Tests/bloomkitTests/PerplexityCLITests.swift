import Foundation
import TestSupport
import XCTest

/// `bloomkit perplexity … --kl-divergence` end to end on tiny-b (the statistics themselves are pinned in
/// BloomRuntimeTests.KLDivergenceTests).
final class PerplexityCLITests: XCTestCase {
    var scratch: TempDir!
    override func setUpWithError() throws { scratch = try TempDir("cli-ppl") }
    override func tearDown() { scratch = nil }

    private func run(_ arguments: [String]) throws -> CLI.Result { try CLI.run(arguments, in: scratch.path) }

    private func object(_ json: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], json)
    }

    private func convert(_ type: String) throws -> String {
        let out = scratch.file("tiny-b-\(type).gguf")
        let r = try run(["convert", try Fixtures.path("models/tiny-b/bin-f32-lmhead"), "--type", type, "-o", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        return out
    }

    func testKLDivergenceAgainstAModelAndAgainstSavedLogProbsAgree() throws {
        let f16 = try convert("f16"), q8 = try convert("q8_0")
        let text = try Fixtures.path("expected/perplexity/heldout.txt")
        let direct = try run(["perplexity", q8, text, "-c", "64", "--chunks", "4", "--kl-divergence", f16, "--json"])
        XCTAssertEqual(direct.status, 0, direct.stderr)
        let a = try object(direct.stdout)
        XCTAssertEqual(a["scored_tokens"] as? Int, 4 * 31)
        XCTAssertEqual(Set((a["kld_percentiles"] as? [String: Double])?.keys.map { $0 } ?? []),
                       ["max", "99.9", "99.0", "95.0", "90.0", "median", "10.0", "5.0", "1.0", "0.1", "min"])
        XCTAssertGreaterThan((a["kld"] as? [String: Double])?["value"] ?? 0, 0)

        let saved = scratch.file("f16.logits")
        let save = try run(["perplexity", f16, text, "-c", "64", "--chunks", "4", "--kl-divergence-base", saved])
        XCTAssertEqual(save.status, 0, save.stderr)
        XCTAssertTrue(save.stdout.contains("Final estimate: PPL = "), save.stdout)
        let viaFile = try run(["perplexity", q8, "--kl-divergence", saved, "--json"])
        XCTAssertEqual(viaFile.status, 0, viaFile.stderr)
        let b = try object(viaFile.stdout)
        for key in ["kld", "same_top", "delta_p", "rms_delta_p", "perplexity", "base_perplexity"] {
            XCTAssertEqual(a[key] as? [String: Double], b[key] as? [String: Double], key)
        }
        let table = try run(["perplexity", q8, "--kl-divergence", saved])
        XCTAssertEqual(table.status, 0, table.stderr)
        for row in ["Mean    KLD:", "Median  KLD:", "99.0%   KLD:", "Same top p:", "RMS Δp    :", "Mean PPL(base)"] {
            XCTAssertTrue(table.stdout.contains(row), "\(row) missing from:\n\(table.stdout)")
        }

        let other = scratch.file("other-context")
        XCTAssertEqual(try run(["perplexity", q8, "-c", "32", "--kl-divergence", saved]).status, 1, "context mismatch")
        XCTAssertEqual(try run(["perplexity", q8, "--kl-divergence", f16]).status, 1, "a GGUF base needs the text")
        XCTAssertEqual(try run(["perplexity", q8, text, "--kl-divergence", f16, "--kl-divergence-base",
                                other]).status, 2)
        assertBadInput(try run(["perplexity", q8, "--kl-divergence", text]), mentions: [text, "_logits_"],
                       "a text file is no saved base")
    }
}
