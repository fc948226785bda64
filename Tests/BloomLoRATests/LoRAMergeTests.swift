import BloomCheckpoint
import BloomCore
@testable import BloomLoRA
import TestSupport
import XCTest

/// The merged tensors equal PEFT's `merge_and_unload` (PEFT 0.2.0's layer for the 2023 layout), read from the fixtures.
final class LoRAMergeTests: XCTestCase {
    /// The f32 base each adapter was trained on (what the fixture script merged into).
    static let bases = [
        "alpaca-b": "models/tiny-b/bin-f32-lmhead/pytorch_model.bin.index.json",
        "lora-bin-a": "models/tiny-a/bin-f32/pytorch_model.bin",
        "rslora-a": "models/tiny-a/bin-f32/pytorch_model.bin",
        "lora-2023-a": "models/tiny-a/bin-f32/pytorch_model.bin",
    ]

    static func path(_ relative: String) -> String { Fixtures.root + "/" + relative }

    static func adapter(_ name: String) throws -> LoRAAdapter {
        try LoRAAdapter(folder: AdapterFolder(path: path("adapters/" + name)))
    }

    static func base(for adapter: String) throws -> MergeBase {
        let file = path(bases[adapter]!)
        return MergeBase(tensors: try Checkpoint.open(file).tensors.map(SourceTensor.init), tiedEmbeddings: true,
                         path: (file as NSString).deletingLastPathComponent)
    }

    /// `|got − want| ≤ 1e-6 · max(|want|, |base|, |want − base|)` for every element: 1e-6 relative to the magnitudes
    /// the sum was made of (an element where W and the delta nearly cancel cannot be closer than the delta's rounding).
    static func assertClose(_ got: [Float], _ want: [Float], base: [Float], _ name: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, name, file: file, line: line)
        var worst: (Float, Int) = (0, 0)
        for i in 0..<min(got.count, want.count) {
            let scale = max(abs(want[i]), abs(base[i]), abs(want[i] - base[i]), Float.leastNormalMagnitude)
            let rel = abs(got[i] - want[i]) / scale
            if !(rel <= worst.0) { worst = (rel, i) }
        }
        XCTAssertLessThanOrEqual(worst.0, 1e-6, "\(name): element \(worst.1) got \(got[worst.1]) want \(want[worst.1])",
                                 file: file, line: line)
    }

    /// Elements that differ in any bit (or in count).
    static func mismatches(_ a: [Float], _ b: [Float]) -> Int {
        zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count + abs(a.count - b.count)
    }

    func checkMerge(_ name: String) throws {
        let base = try Self.base(for: name)
        let merged = try LoRAMerge.apply([Self.adapter(name)], to: base)
        let expected = try SafetensorsFile(path: Self.path("expected/merged/\(name).safetensors"))
        XCTAssertTrue(merged.warnings.isEmpty, "\(merged.warnings)")
        XCTAssertFalse(merged.untiedEmbeddings)
        XCTAssertFalse(merged.tensors.contains { $0.name == "lm_head.weight" }, "tied lm_head written")

        // Expected files name tensors as BloomForCausalLM does; tiny-a's .bin has no `transformer.` prefix.
        func canonical(_ n: String) -> String {
            n.hasPrefix("transformer.") || n == "lm_head.weight" ? n : "transformer." + n
        }
        let want = Dictionary(uniqueKeysWithValues: expected.tensors.map { (canonical($0.name), $0) })
        XCTAssertEqual(Set(merged.changedTensors.map(canonical)), Set(want.keys), name)
        let baseByName = Dictionary(uniqueKeysWithValues: base.tensors.map { ($0.name, $0) })
        for tensor in merged.tensors {
            let original = try baseByName[tensor.name]!.floats()
            let got = try tensor.floats()
            if let w = want[canonical(tensor.name)] {
                XCTAssertEqual(tensor.shape, w.shape, tensor.name)
                Self.assertClose(got, try w.floats(), base: original, "\(name) \(tensor.name)")
            } else {
                XCTAssertEqual(Self.mismatches(got, original), 0, "\(name): untouched \(tensor.name) changed")
            }
        }
    }

    func testCurrentLayoutSafetensors() throws { try checkMerge("alpaca-b") }
    func testCurrentLayoutBin() throws { try checkMerge("lora-bin-a") }
    func testRSLoRAPatternsAndLoRAOnlyBias() throws { try checkMerge("rslora-a") }
    func test2023LayoutWithFanInFanOutTrue() throws { try checkMerge("lora-2023-a") }

    /// Row chunks of any size give the same rows as one read of the whole tensor (the 2023 layout's blocks included).
    func testRowChunksAgreeWithWholeReads() throws {
        for name in ["lora-2023-a", "rslora-a"] {
            let merged = try LoRAMerge.apply([Self.adapter(name)], to: Self.base(for: name))
            for tensor in merged.tensors where merged.changedTensors.contains(tensor.name) {
                let whole = try tensor.floats()
                var pieces: [Float] = []
                var row = 0
                while row < tensor.rowCount {
                    let n = min(7, tensor.rowCount - row)
                    var chunk = [Float](repeating: 0, count: n * tensor.rowLength)
                    try chunk.withUnsafeMutableBufferPointer { try tensor.readRows(row, n, $0) }
                    pieces += chunk
                    row += n
                }
                XCTAssertEqual(Self.mismatches(pieces, whole), 0, tensor.name)
            }
        }
    }
}
