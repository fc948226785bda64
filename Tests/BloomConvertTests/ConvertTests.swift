import BloomArch
import BloomCore
@testable import BloomConvert
import BloomGGUF
import BloomQuant
import Foundation
import TestSupport
import XCTest

/// convert on a synthetic checkpoint: values (QKV re-laid as llama.cpp does), keys and value types llama.cpp
/// requires, type policy, tied and separate heads, streaming in small chunks on several threads.
final class ConvertTests: XCTestCase {
    var tmp: TempDir!
    override func setUpWithError() throws { tmp = try TempDir("convert-tests") }
    override func tearDown() { tmp = nil }

    func convert(_ input: ConvertInput, type: FileType = .F32, _ configure: (inout ConvertOptions) -> Void = { _ in })
        throws -> (GGUFFile, ConvertReport) {
        var options = ConvertOptions()
        options.type = type
        options.chunkElements = 1000  // many chunks per tensor, QKV chunks that split heads
        options.threads = 3
        configure(&options)
        let path = tmp.file("out-\(UUID().uuidString).gguf")
        let report = try Converter.convert(input, to: path, options: options)
        return (try GGUFFile(path: path), report)
    }

    func testF32ValuesEqualTheSourceWithQKVReLaid() throws {
        let (input, values) = try ConvertFixtures.input()
        let h = input.hyperParameters
        let (file, report) = try convert(input)
        XCTAssertEqual(file.tensors.count, 5 + 12 * h.blockCount)
        XCTAssertNil(file.tensor(named: "output.weight"))
        XCTAssertEqual(report.tensors.count, file.tensors.count)
        for t in file.tensors {
            let hf = try XCTUnwrap(BloomTensorNames.hfName(forGGUF: t.name))
            var expected = try XCTUnwrap(values[hf], hf)
            if t.name.contains("attn_qkv") {
                expected = llamaCppQKV(expected, heads: h.headCount, headDim: h.headDim,
                                       rowLength: t.ne.count == 2 ? h.embeddingLength : 1)
            }
            XCTAssertEqual(t.type, .F32, t.name)
            XCTAssertEqual(try ConvertFixtures.floats(t), expected, t.name)
        }
        XCTAssertNoThrow(try GGUFVerifier.verify(path: file.path))
    }

    func testKeysHaveLlamaCppValueTypes() throws {
        let (input, _) = try ConvertFixtures.input()
        let (file, _) = try convert(input, type: .F16)
        let m = file.metadata
        XCTAssertEqual(m.keys.first, "general.architecture")
        XCTAssertEqual(try m.string("general.architecture"), "bloom")
        XCTAssertEqual(try BloomHyperParameters(metadata: m), input.hyperParameters)
        XCTAssertEqual(try m.uint32("general.file_type"), 1)
        XCTAssertEqual(try m.uint32("general.quantization_version"), 2)
        XCTAssertEqual(try m.string("tokenizer.ggml.model"), "gpt2")
        XCTAssertEqual(try m.string("tokenizer.ggml.pre"), "bloom")
        let tokens = try m.stringArray("tokenizer.ggml.tokens")
        XCTAssertEqual(tokens.count, 2048)
        XCTAssertEqual(tokens[2047], "[PAD2047]")
        let types = try m.int32Array("tokenizer.ggml.token_type")
        XCTAssertEqual(types.count, 2048)
        XCTAssertEqual(Array(types[0..<4]), [3, 3, 3, 3], "special added tokens are CONTROL")
        XCTAssertEqual(types[100], 1)
        XCTAssertEqual(types[2047], 5)
        XCTAssertFalse(try m.stringArray("tokenizer.ggml.merges").isEmpty)
        XCTAssertTrue(try m.stringArray("tokenizer.ggml.merges").allSatisfy { $0.split(separator: " ").count == 2 })
        for (key, id) in [("bos", 1), ("eos", 2), ("unknown", 0), ("padding", 3)] {
            XCTAssertEqual(try m.uint32("tokenizer.ggml.\(key)_token_id"), UInt32(id), key)
        }
        XCTAssertEqual(try m.bool("tokenizer.ggml.add_bos_token"), false)
        XCTAssertEqual(try m.string(BloomGGUFKeys.promptTemplateNoInput), AlpacaTemplate.defaultStyle.noInput)
        XCTAssertEqual(try m.string(BloomGGUFKeys.promptTemplateWithInput), AlpacaTemplate.defaultStyle.withInput)
        XCTAssertEqual(try m.string(BloomGGUFKeys.chatTemplate), AlpacaTemplate.defaultStyle.chatTemplate)
        XCTAssertEqual(try m.stringArray(BloomGGUFKeys.adapters), ["a scale=2.0"])
        XCTAssertEqual(try m.uint64Array(BloomGGUFKeys.tensorChecksums).count, file.tensors.count)
        for t in file.tensors {
            XCTAssertEqual(t.type, t.ne.count == 1 ? .F32 : .F16, t.name)
        }
    }

    func testF16AndBF16AreRoundedToNearestEven() throws {
        let (input, values) = try ConvertFixtures.input()
        for type in [GGMLType.F16, .BF16] {
            let (file, report) = try convert(input, type: type == .F16 ? .F16 : .BF16) { $0.measureError = true }
            let t = try XCTUnwrap(file.tensor(named: "blk.1.ffn_up.weight"))
            let source = try XCTUnwrap(values["transformer.h.1.mlp.dense_h_to_4h.weight"])
            let expected = source.map { type == .F16 ? Precision.f16ToFloat(Precision.floatToF16($0)) : Precision.bf16ToFloat(Precision.floatToBF16($0)) }
            XCTAssertEqual(try ConvertFixtures.floats(t), expected)
            let line = try XCTUnwrap(report.tensors.first { $0.name == t.name })
            XCTAssertGreaterThan(line.error.rmse, 0)
            XCTAssertEqual(line.error.maxAbs, zip(source, expected).map { Double(abs($0 - $1)) }.max()!, accuracy: 1e-12)
            XCTAssertEqual(report.tensors.first { $0.name == "blk.0.attn_norm.weight" }?.error.rmse, 0)
        }
    }

    func testSeparateOutputAndUntiedHead() throws {
        let (input, values) = try ConvertFixtures.input(lmHead: true)
        let (tied, _) = try convert(input)
        XCTAssertNil(tied.tensor(named: "output.weight"), "a tied checkpoint's lm_head is the embedding: not written")
        let (separate, _) = try convert(input) { $0.separateOutput = true }
        XCTAssertEqual(try ConvertFixtures.floats(try separate.requireTensor(named: "output.weight")), values["transformer.word_embeddings.weight"])
        let (untiedInput, _) = try ConvertFixtures.input(lmHead: true, tied: false)
        let (untied, _) = try convert(untiedInput)
        XCTAssertEqual(try ConvertFixtures.floats(try untied.requireTensor(named: "output.weight")), values["lm_head.weight"])
        XCTAssertNoThrow(try GGUFVerifier.verify(path: untied.path))
        let (noHead, _) = try ConvertFixtures.input(lmHead: false, tied: false)
        assertBloomError(.invalidArgument) { try self.convert(noHead) }
    }

    func testTypePolicy() throws {
        let (input, _) = try ConvertFixtures.input()
        let (file, report) = try convert(input, type: .F16) {
            $0.overrides.patterns = [("ffn_down", .BF16), ("attn_norm", .Q8_0)]
            $0.overrides.embeddingType = .F32
        }
        XCTAssertEqual(file.tensor(named: "blk.0.ffn_down.weight")?.type, .BF16)
        XCTAssertEqual(file.tensor(named: "blk.0.ffn_down.bias")?.type, .F32)
        XCTAssertEqual(file.tensor(named: "blk.0.ffn_up.weight")?.type, .F16)
        XCTAssertEqual(file.tensor(named: "token_embd.weight")?.type, .F32)
        XCTAssertEqual(report.warnings, ["--tensor-type pattern 'attn_norm' matches no quantizable tensor"])
        assertBloomError(.invalidArgument) { try self.convert(input) { $0.overrides.patterns = [("(", .F16)] } }
    }

    func testMisfitCheckpointsAreRefusedAndLeaveNothing() throws {
        var (input, _) = try ConvertFixtures.input()
        let full = input.tensors
        input.tensors = full.filter { $0.name != "transformer.h.1.mlp.dense_4h_to_h.bias" }
        let message = assertBloomError(.invalidArgument) { try self.convert(input) }?.description
        XCTAssertTrue(message?.contains("transformer.h.1.mlp.dense_4h_to_h.bias") ?? false, message ?? "")
        input.tensors = full + [ConvertFixtures.tensor("transformer.h.0.extra.weight", [2], seed: 9).0]
        assertBloomError(.invalidArgument) { try self.convert(input) }
        input.tensors = full.map { $0.name == "transformer.ln_f.bias" ? ConvertFixtures.tensor($0.name, [63], seed: 1).0 : $0 }
        assertBloomError(.invalidArgument) { try self.convert(input) }
        // A read error mid-stream aborts the file.
        input.tensors = full.map { t in
            guard t.name == "transformer.h.1.self_attention.dense.weight" else { return t }
            return SourceTensor(name: t.name, dtype: .F32, shape: t.shape) { _, _, _ in throw BloomError(.io, "disk gone") }
        }
        assertBloomError(.io) { try self.convert(input) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), [])
    }

    func testReportTotals() throws {
        let (input, _) = try ConvertFixtures.input()
        let (file, report) = try convert(input, type: .F16) { $0.measureError = true }
        XCTAssertEqual(report.fileSize, file.file.count)
        XCTAssertEqual(report.tensorBytes, file.tensors.reduce(0) { $0 + $1.byteCount })
        XCTAssertEqual(report.bitsPerWeight, Double(report.tensorBytes * 8) / Double(report.elementCount))
        let json = report.json()
        XCTAssertEqual(json["tensors"]?.array?.count, file.tensors.count)
        XCTAssertNotNil(json["tensors"]?.array?.first?["snr_db"])
        XCTAssertTrue(report.table().contains("bits per weight"))
    }
}
