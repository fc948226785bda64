import BloomCore
import BloomTokenizer
import Foundation
import TestSupport
import XCTest
@testable import BloomRuntime

/// KL divergence as llama-perplexity computes it, against Tests/Fixtures/expected/kld (generate_quality.py:
/// transformers' logits of tiny-b f32 and of its Q8_0/Q4_0-dequantized copy; statistics in numpy the way
/// tools/perplexity/perplexity.cpp computes them).
final class KLDivergenceTests: XCTestCase {
    private static func estimate(_ v: JSONValue?) throws -> Estimate {
        Estimate(value: try XCTUnwrap(v?["value"]?.double), uncertainty: try XCTUnwrap(v?["uncertainty"]?.double))
    }

    /// Every statistic of `r` against the generator's, within `rel` relative (`abs` absolute for values near 0).
    private func assertStatistics(_ r: KLDivergenceResult, _ e: JSONValue, rel: Double, abs tolerance: Double,
                                  _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        func near(_ a: Double, _ b: Double, _ name: String) {
            XCTAssertEqual(a, b, accuracy: max(tolerance, Swift.abs(b) * rel), "\(what) \(name)", file: file,
                           line: line)
        }
        func near(_ a: Estimate, _ key: String) throws {
            let b = try Self.estimate(e[key])
            near(a.value, b.value, key)
            near(a.uncertainty, b.uncertainty, key + " ±")
        }
        XCTAssertEqual(r.count, e["count"]?.int, what, file: file, line: line)
        try near(r.perplexity, "perplexity")
        try near(r.basePerplexity, "base_perplexity")
        near(r.logPerplexityCorrelation, try XCTUnwrap(e["ln_ppl_correlation"]?.double), "correlation")
        try near(r.logPerplexityRatio, "ln_ppl_ratio")
        try near(r.perplexityRatio, "ppl_ratio")
        try near(r.perplexityDifference, "ppl_difference")
        try near(r.meanKLD, "kld")
        try near(r.meanPDiff, "delta_p")
        try near(r.rmsPDiff, "rms_delta_p")
        try near(r.sameTop, "same_top")
        for (rows, key) in [(r.kldPercentiles, "kld_percentiles"), (r.pDiffPercentiles, "delta_p_percentiles")] {
            let expected = try XCTUnwrap(e[key]?.object, key)
            XCTAssertEqual(rows.map(\.0), expected.map(\.0), key, file: file, line: line)
            for ((label, v), (_, x)) in zip(rows, expected) { near(v, try XCTUnwrap(x.double), "\(key) \(label)") }
        }
    }

    /// The arithmetic alone, on real logits sliced to 64 tokens: the 16-bit records are llama-perplexity's code
    /// for code, and every statistic matches to f32 rounding.
    func testStatisticsOfTransformersLogitsMatchLlamaPerplexityArithmetic() throws {
        let fixture = try Fixtures.json("expected/kld/statistics.json")
        let vocab = try XCTUnwrap(fixture["vocab"]?.int), positions = try XCTUnwrap(fixture["positions"]?.int)
        func floats(_ key: String) throws -> [Float] {
            try XCTUnwrap(fixture[key]?.array).map { Float($0.double ?? .nan) }
        }
        let base = try floats("base_logits"), model = try floats("model_logits")
        let scales = try floats("base_scale"), minimums = try floats("base_min_log_prob")
        let codes = try XCTUnwrap(fixture["base_codes"]?.array).compactMap(\.int)
        let tokens = try XCTUnwrap(fixture["tokens"]?.array).compactMap(\.int)
        XCTAssertEqual(base.count, vocab * positions)
        XCTAssertEqual(codes.count, vocab * positions)

        let length = LogProbs16.recordLength(vocab: vocab)
        var record = [UInt16](repeating: 0xFFFF, count: length)
        var stats = KLDivergenceStatistics()
        for p in 0..<positions {
            record.withUnsafeMutableBufferPointer { r in
                _ = base.withUnsafeBufferPointer { b in
                    LogProbs16.encode(b.baseAddress! + p * vocab, vocab: vocab, token: tokens[p], into: r.baseAddress!)
                }
                model.withUnsafeBufferPointer { m in
                    stats.add(logits: m.baseAddress! + p * vocab, base: r.baseAddress!, vocab: vocab, token: tokens[p])
                }
            }
            let (scale, minLogProb) = record.withUnsafeBufferPointer { LogProbs16.header($0.baseAddress!) }
            XCTAssertEqual(scale.bitPattern, scales[p].bitPattern, "scale at \(p)")
            // log Σe^x may differ in its last bit: numpy's exp and sum order are not glibc's expf loop.
            XCTAssertEqual(minLogProb, minimums[p], accuracy: minimums[p].ulp, "min_log_prob at \(p)")
            XCTAssertEqual(record[4..<(4 + vocab)].map(Int.init), Array(codes[(p * vocab)..<((p + 1) * vocab)]),
                           "codes at \(p)")
            XCTAssertTrue(record[(4 + vocab)...].allSatisfy { $0 == 0 }, "padding at \(p)")
        }
        let expected = try XCTUnwrap(fixture["statistics"])
        XCTAssertEqual(stats.sameTop, expected["same_top_count"]?.int)
        try assertStatistics(stats.result, expected, rel: 2e-6, abs: 1e-7, "64-token slice")
    }

    private func text() throws -> String { try Fixtures.text("expected/perplexity/heldout.txt") }

    /// The whole run on the converted files: bloomkit's forward pass against transformers' logits on the same
    /// weights with Q8_0 activations (as ggml's products take them), so the numbers agree to the accumulation
    /// order: same-top to 0.5%, mean KLD to 2% (Q8_0's is 0.0011, where f32 noise is a visible share).
    func testQuantizedFilesAgainstF32MatchTransformers() throws {
        let fixture = try Fixtures.json("expected/kld/tiny-b.json")
        let base = try FixtureModels.shared.model("tiny-b", .F32)
        let tokenizer = try BloomTokenizer(ggufMetadata: base.metadata)
        let pool = try ThreadPool(threads: 2)
        for (type, key) in [(GGMLType.Q8_0, "q8_0"), (.Q4_0, "q4_0")] {
            let model = try FixtureModels.shared.model("tiny-b", type)
            let r = try KLDivergence.compute(model: model, baseModel: base, tokenizer: tokenizer, text: try text(),
                                             context: 64, pool: pool)
            let e = try XCTUnwrap(fixture[key])
            XCTAssertEqual(r.chunkCount, fixture["chunks"]?.int)
            XCTAssertEqual(r.contextLength, 64)
            XCTAssertEqual(r.count, e["count"]?.int)
            let kld = try Self.estimate(e["kld"]), top = try Self.estimate(e["same_top"])
            XCTAssertEqual(r.meanKLD.value, kld.value, accuracy: kld.value * 2e-2, key)
            XCTAssertEqual(r.sameTop.value, top.value, accuracy: top.value * 5e-3, key)
            try assertStatistics(r, e, rel: 0.05, abs: 5e-3, key)  // extreme Δp tails rest on one position
        }
    }

    /// Saving the base (`--kl-divergence-base`) and comparing with the file gives exactly what comparing with the
    /// base model does; the file has llama-perplexity's layout and size.
    func testSavedLogProbsGiveTheSameResultAsTheBaseModel() throws {
        let base = try FixtureModels.shared.model("tiny-b", .F32)
        let model = try FixtureModels.shared.model("tiny-b", .Q4_0)
        let tokenizer = try BloomTokenizer(ggufMetadata: base.metadata)
        let pool = try ThreadPool(threads: 2)
        let folder = try TempDir("kld")
        let path = folder.file("base.logits")
        let tokens = try Perplexity.tokens(try text(), tokenizer: tokenizer, context: 64)
        let writer = try SavedLogProbsWriter(path: path, context: 64, vocab: 1536, chunks: 3, tokens: tokens)
        let ppl = try Perplexity.compute(model: base, tokens: tokens, context: 64, pool: pool, chunks: 3,
                                         saving: writer)
        try writer.commit()
        XCTAssertEqual(ppl.chunkCount, 3)

        let saved = try SavedLogProbs(path: path)
        XCTAssertEqual([saved.context, saved.vocab, saved.chunkCount], [64, 1536, 3])
        XCTAssertEqual(saved.tokens, Array(tokens.prefix(192)))
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        XCTAssertEqual(size, 20 + 192 * 4 + 3 * 31 * (1536 + 4) * 2)

        let fromFile = try KLDivergence.compute(model: model, base: saved, pool: pool)
        let fromModel = try KLDivergence.compute(model: model, baseModel: base, tokenizer: tokenizer, text: try text(),
                                                 context: 64, pool: pool, chunks: 3)
        XCTAssertEqual(fromFile.count, 93)
        XCTAssertEqual(fromFile.meanKLD, fromModel.meanKLD)
        XCTAssertEqual(fromFile.sameTop, fromModel.sameTop)
        XCTAssertEqual(fromFile.kldPercentiles.map(\.1), fromModel.kldPercentiles.map(\.1))
        XCTAssertEqual(fromFile.basePerplexity, fromModel.basePerplexity)
        // The base's own perplexity from its records is the base run's, up to the 16-bit rounding of log p.
        XCTAssertEqual(fromFile.basePerplexity.value, ppl.perplexity, accuracy: ppl.perplexity * 1e-2)
    }

    func testModelsWithAnotherTokenizerAreRefused() throws {
        let other = try BloomModel(path: try Fixtures.repositoryPath("Fuzz/corpus/fuzz-gguf/tiny-bloom.gguf"))
        let model = try FixtureModels.shared.model("tiny-b", .Q8_0)
        let e = assertBloomError(.invalidRequest) { try KLDivergence.requireSameTokenizer(model, other) }
        XCTAssertTrue(e?.message.contains("do not share the tokenizer") ?? false, "\(String(describing: e))")
        let tokenizer = try BloomTokenizer(ggufMetadata: model.metadata)
        assertBloomError(.invalidRequest) {
            try KLDivergence.compute(model: model, baseModel: other, tokenizer: tokenizer, text: try text(),
                                     context: 64,
                                     pool: try ThreadPool(threads: 1))
        }
    }

    /// A saved file whose size or header lies is refused with the file named, before anything is allocated by it.
    func testBrokenSavedFilesAreRefused() throws {
        let folder = try TempDir("kld-hostile")
        var header = Array("_logits_".utf8)
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        header += le(UInt32(4)) + le(Int32(8)) + le(Int32(1))
        let tokens = le(Int32(1)) + le(Int32(2)) + le(Int32(3)) + le(Int32(4))
        let records = [UInt8](repeating: 0, count: 1 * (8 + 4) * 2)
        XCTAssertNoThrow(try SavedLogProbs(path: try folder.write("ok", header + tokens + records)))
        let cases: [(String, [UInt8], BloomError.Code)] = [
            ("magic", Array("_logitz_".utf8) + Array(header[8...]) + tokens + records, .invalidArgument),
            ("short", header + tokens + records.dropLast(2), .truncated),
            ("long", header + tokens + records + [0], .invalidArgument),
            ("header", Array(header.prefix(12)), .outOfBounds),
            ("odd context", Array("_logits_".utf8) + le(UInt32(5)) + le(Int32(8)) + le(Int32(1)), .invalidArgument),
            ("huge vocab", Array("_logits_".utf8) + le(UInt32(4)) + le(Int32.max) + le(Int32(1)), .invalidArgument),
            ("huge chunks", Array("_logits_".utf8) + le(UInt32(1 << 20)) + le(Int32(1 << 24)) + le(Int32.max),
             .overflow),
            ("token", header + le(Int32(8)) + Array(tokens[4...]) + records, .invalidArgument),
        ]
        for (name, bytes, code) in cases {
            let path = try folder.write(name, bytes)
            let e = assertBloomError(code, name) { try SavedLogProbs(path: path) }
            XCTAssertEqual(e?.path, path, name)
        }
        let saved = try SavedLogProbs(path: try folder.write("ok2", header + tokens + records))
        assertBloomError(.invalidRequest) {
            try KLDivergence.compute(model: try FixtureModels.shared.model("tiny-b", .Q8_0), base: saved,
                                     pool: try ThreadPool(threads: 1))
        }
    }
}
