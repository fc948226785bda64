import BloomArch
import BloomCore
import BloomGGUF
@testable import BloomConvert
import Foundation
import TestSupport
import XCTest

/// `convert ADAPTER_DIR`: PEFT adapters → llama.cpp's LoRA GGUF. The pairs are checked against bloomkit's merge
/// (itself bit-exact with PEFT's merge_and_unload, MergePipelineTests): for every adapted weight, the merged F32
/// GGUF tensor minus the base's equals s·B·A computed from the adapter file (same re-layout, same placement).
final class AdapterConvertTests: XCTestCase {
    /// Fixture adapter → its base model folder.
    static let adapters: [(adapter: String, base: String)] = [
        ("adapters/alpaca-b", "models/tiny-b/bin-f32-lmhead"),
        ("adapters/lora-bin-a", "models/tiny-a/bin-f32"),
        ("adapters/lora-2023-a", "models/tiny-a/bin-f32"),
    ]

    func testFixtureAdaptersMatchTheMergedModel() throws {
        let scratch = try TempDir("adapter-convert")
        var cases = try Self.adapters.map { (try fixture($0.adapter), try fixture($0.base)) }
        cases.append((try Fixtures.rsLoRAWithoutBiases(in: scratch), try fixture("models/tiny-a/bin-f32")))
        for (adapter, base) in cases {
            let name = URL(fileURLWithPath: adapter).lastPathComponent
            let out = scratch.file(name + ".gguf")
            _ = try AdapterConverter.convert(adapter: adapter, base: base, to: out, type: .F32)
            let file = try GGUFFile(path: out)
            XCTAssertEqual(try file.metadata.string(BloomGGUFKeys.type), "adapter")
            XCTAssertEqual(try file.metadata.string(BloomGGUFKeys.architecture), "bloom")
            XCTAssertEqual(try file.metadata.string(BloomLoRAProfile.adapterTypeKey), "lora")
            let alpha = try file.metadata.float32(BloomLoRAProfile.alphaKey)
            XCTAssertNoThrow(try GGUFVerifier.verify(path: out), name)

            var options = ConvertOptions()
            options.type = .F32
            let basePath = scratch.file(name + "-base.gguf")
            let mergedPath = scratch.file(name + "-merged.gguf")
            _ = try Converter.convert(try ConvertInput(folder: base), to: basePath, options: options)
            let mergedInput = try ConvertInput(folder: base, adapters: [adapter])
            _ = try Converter.convert(mergedInput, to: mergedPath, options: options)
            let baseFile = try GGUFFile(path: basePath), merged = try GGUFFile(path: mergedPath)
            var adapted = Set<String>()
            for t in file.tensors where t.name.hasSuffix(".lora_a") {
                let weight = String(t.name.dropLast(".lora_a".count))
                adapted.insert(weight)
                let b = try file.requireTensor(named: weight + ".lora_b")
                let (inFeatures, rank, outFeatures) = (t.ne[0], t.ne[1], b.ne[1])
                XCTAssertEqual(b.ne, [rank, outFeatures])
                let s = alpha == 0 ? 1 : alpha / Float(rank)
                let av = try ConvertFixtures.floats(t), bv = try ConvertFixtures.floats(b)
                let w0 = try ConvertFixtures.floats(baseFile.requireTensor(named: weight))
                let w1 = try ConvertFixtures.floats(merged.requireTensor(named: weight))
                var worst: Float = 0
                for o in 0..<outFeatures {
                    for j in 0..<inFeatures {
                        var sum: Float = 0
                        for c in 0..<rank { sum += bv[o * rank + c] * av[c * inFeatures + j] }
                        worst = max(worst, abs(w0[o * inFeatures + j] + s * sum - w1[o * inFeatures + j]))
                    }
                }
                XCTAssertLessThan(worst, 1e-5, "\(name) \(weight)")
            }
            // Every tensor the merge changed has a pair (and no other tensor changed).
            for t in merged.tensors where !adapted.contains(t.name) {
                let before = try ConvertFixtures.floats(baseFile.requireTensor(named: t.name))
                let unchanged = try ConvertFixtures.floats(t) == before
                XCTAssertTrue(unchanged, "\(name): \(t.name) changed by the merge but has no pair")
            }
            XCTAssertFalse(adapted.isEmpty, name)
        }
    }

    /// The 2023 layout (enable_lora [true, false, true], r 16): one pair of rank 32 per layer. PEFT 0.2 split the
    /// fused projection's Hugging Face rows (head-interleaved in BLOOM) into thirds, so B's zero rows are the middle
    /// third's, wherever the Q|K|V re-layout puts them; PEFT's alpha/r comes out of llama.cpp's alpha/(r·k).
    func testTheLayoutOf2023AdaptersFollowsTheFusedQKV() throws {
        let scratch = try TempDir("adapter-convert")
        let out = scratch.file("a.gguf")
        _ = try AdapterConverter.convert(adapter: try fixture("adapters/lora-2023-a"),
                                         base: try fixture("models/tiny-a/bin-f32"), to: out)
        let file = try GGUFFile(path: out)
        XCTAssertEqual(try file.metadata.float32(BloomLoRAProfile.alphaKey), 64)  // 32/16 = 64/32
        XCTAssertEqual(file.tensors.map(\.name), ["blk.0.attn_qkv.weight.lora_a", "blk.0.attn_qkv.weight.lora_b",
                                                  "blk.1.attn_qkv.weight.lora_a", "blk.1.attn_qkv.weight.lora_b"])
        let b = try ConvertFixtures.floats(file.requireTensor(named: "blk.0.attn_qkv.weight.lora_b"))
        let hidden = 64, rank = 32
        XCTAssertEqual(b.count, 3 * hidden * rank)
        let layout = QKVLayout(headCount: 4, headDim: 16)
        for g in 0..<(3 * hidden) {
            let disabled = (hidden..<(2 * hidden)).contains(layout.hfRow(ofGGUFRow: g))
            XCTAssertEqual(b[(g * rank)..<((g + 1) * rank)].allSatisfy { $0 == 0 }, disabled, "row \(g)")
        }
    }

    /// What a GGUF LoRA cannot hold is refused with a message that says to merge.
    func testTrainedBiasesAreRefusedWithAdviceToMerge() throws {
        let scratch = try TempDir("adapter-convert")
        let (adapter, base) = (try fixture("adapters/rslora-a"), try fixture("models/tiny-a/bin-f32"))
        let error = assertBloomError(.loraUnsupported) {
            try AdapterConverter.convert(adapter: adapter, base: base, to: scratch.file("x.gguf"))
        }
        XCTAssertTrue(error?.message.contains("merge it instead") ?? false, error?.message ?? "")
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.file("x.gguf")))
    }

    /// An adapter converted against the wrong base is refused (shapes); one whose base cannot be found asks for --base.
    func testTheBaseIsChecked() throws {
        let scratch = try TempDir("adapter-convert")
        let out = scratch.file("x.gguf")
        let adapter = try fixture("adapters/lora-bin-a")
        let otherBase = try fixture("models/tiny-b/bin-f32-lmhead")
        assertBloomError(.loraShapeMismatch) {
            try AdapterConverter.convert(adapter: adapter, base: otherBase, to: out)
        }
        let error = assertBloomError(.missingFile) {
            try AdapterConverter.convert(adapter: adapter, base: nil, to: out)
        }
        XCTAssertTrue(error?.message.contains("--base") ?? false, error?.message ?? "")
        XCTAssertTrue(AdapterConverter.isAdapterFolder(adapter))
        XCTAssertFalse(AdapterConverter.isAdapterFolder(try fixture("models/tiny-a/bin-f32")))
    }

    private func fixture(_ relative: String) throws -> String { try Fixtures.path(relative) }
}
