import BloomCore
import BloomGGUF
import BloomTokenizer
import TestSupport
import XCTest
@testable import BloomRuntime

/// bloomkit's importance matrix against llama-imatrix's on the same F16 file, text and chunking
/// (Tests/Fixtures/expected/imatrix, made by generate_imatrix.sh).
final class ImatrixCollectorTests: XCTestCase {
    private func collect(chunks: Int? = nil) throws -> ImportanceMatrix {
        let model = try FixtureModels.shared.model("tiny-b", .F16)
        let tokens = try model.loadTokenizer().encodeChecked(try Fixtures.text("expected/perplexity/heldout.txt"))
        return try ImatrixCollector.collect(model: model, tokens: tokens, context: 64, chunks: chunks,
                                            pool: try ThreadPool(threads: 2),
                                            dataset: "Tests/Fixtures/expected/perplexity/heldout.txt")
    }

    /// Same names, counts, chunk keys; each tensor's total within 1e-4 relative and each column within 2e-3
    /// (llama.cpp rounds the attention values (F16 KV cache) and the GELU output (an f16 table) to f16: the inputs
    /// of attn_output and ffn_down differ per element by up to ~5e-4; qkv and ffn_up inputs by ~1e-4).
    private func assertMatches(_ m: ImportanceMatrix, _ fixture: String) throws {
        let expected = try ImportanceMatrix(path: try Fixtures.path("expected/imatrix/" + fixture))
        XCTAssertEqual(m.entries.keys.sorted(), expected.entries.keys.sorted())
        XCTAssertEqual(m.chunkCount, expected.chunkCount)
        XCTAssertEqual(m.chunkSize, expected.chunkSize)
        XCTAssertEqual(m.datasets, expected.datasets)
        for (name, e) in expected.entries {
            let got = try XCTUnwrap(m.entries[name], name)
            XCTAssertEqual(got.count, e.count, name)
            XCTAssertEqual(got.sums.count, e.sums.count, name)
            let total = got.sums.reduce(0.0) { $0 + Double($1) }, want = e.sums.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(total, want, accuracy: want * 1e-4, name)
            for (j, (a, b)) in zip(got.sums, e.sums).enumerated() {
                XCTAssertEqual(a, b, accuracy: b * 2e-3, "\(name) column \(j)")
            }
        }
    }

    func testAllChunksMatchLlamaImatrix() throws {
        try assertMatches(try collect(), "tiny-b-c64.gguf")
    }

    func testChunkLimitMatchesLlamaImatrix() throws {
        try assertMatches(try collect(chunks: 4), "tiny-b-c64-chunks4.gguf")
    }

    /// Passes of fewer than 16 rows are skipped as llama-imatrix skips them: with n_ctx 8 and n_batch 8 every pass
    /// has 8 rows, so nothing is collected and no entry is written.
    func testPassesUnder16RowsAreSkipped() throws {
        let model = try FixtureModels.shared.model("tiny-b", .F16)
        let tokens = try model.loadTokenizer().encodeChecked(try Fixtures.text("expected/perplexity/heldout.txt"))
        let pool = try ThreadPool(threads: 1)
        let none = try ImatrixCollector.collect(model: model, tokens: tokens, context: 8, chunks: 3, batch: 8,
                                                pool: pool,
                                                dataset: "t")
        XCTAssertTrue(none.entries.isEmpty)
        let two = try ImatrixCollector.collect(model: model, tokens: tokens, context: 8, chunks: 3, batch: 16,
                                               pool: pool,
                                               dataset: "t")
        // Chunks 1+2 share a pass of 16 rows; chunk 3 is alone in a pass of 8.
        XCTAssertEqual(two.entries["blk.0.attn_qkv.weight"]?.count, 16)
    }

    func testTooShortATextIsRefused() throws {
        let model = try FixtureModels.shared.model("tiny-b", .F16)
        assertBloomError(.invalidRequest) {
            try ImatrixCollector.collect(model: model, tokens: [5, 6, 7], context: 2, pool: try ThreadPool(threads: 1),
                                         dataset: "t")
        }
    }
}
