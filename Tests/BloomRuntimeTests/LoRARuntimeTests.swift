import BloomArch
import BloomConvert
import BloomCore
import BloomGGUF
import BloomTokenizer
import Foundation
import TestSupport
import XCTest
@testable import BloomRuntime

/// F32 base + adapter GGUF (applied at load time) against the merged F32 model bloomkit convert --lora writes (whose
/// weights equal PEFT's merge_and_unload, MergePipelineTests) and against transformers+PEFT's generations of the
/// merged alpaca-b (expected/generate/alpaca-b-merged.json).
final class LoRARuntimeTests: XCTestCase {
    /// The converted files of one fixture adapter.
    struct Files {
        let base: String, adapter: String, merged: String, prompts: String
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [String: Files] = [:]
    nonisolated(unsafe) private static var scratch: TempDir?

    override class func tearDown() {
        cache = [:]
        scratch = nil
    }

    /// Adapter folder (or "rslora-a-no-bias", rslora-a without its trained biases) → base folder and the prompts.
    static let cases: [(adapter: String, base: String, prompts: String)] = [
        ("adapters/alpaca-b", "models/tiny-b/bin-f32-lmhead", "alpaca-b-merged"),
        ("adapters/lora-bin-a", "models/tiny-a/bin-f32", "tiny-a"),
        ("adapters/lora-2023-a", "models/tiny-a/bin-f32", "tiny-a"),
        ("rslora-a-no-bias", "models/tiny-a/bin-f32", "tiny-a"),
    ]

    static func files(_ adapter: String, _ base: String, _ prompts: String) throws -> Files {
        lock.lock()
        defer { lock.unlock() }
        if let f = cache[adapter] { return f }
        let dir = try scratch ?? TempDir("lora-runtime")
        scratch = dir
        let adapterFolder = adapter == "rslora-a-no-bias"
            ? try Fixtures.rsLoRAWithoutBiases(in: dir) : try Fixtures.path(adapter)
        let name = URL(fileURLWithPath: adapterFolder).lastPathComponent
        let basePath = try Fixtures.path(base)
        var options = ConvertOptions()
        options.type = .F32
        let f = Files(base: dir.file(name + "-base.gguf"), adapter: dir.file(name + "-lora.gguf"),
                      merged: dir.file(name + "-merged.gguf"), prompts: prompts)
        _ = try Converter.convert(try ConvertInput(folder: basePath), to: f.base, options: options)
        let mergedInput = try ConvertInput(folder: basePath, adapters: [adapterFolder])
        _ = try Converter.convert(mergedInput, to: f.merged, options: options)
        _ = try AdapterConverter.convert(adapter: adapterFolder, base: basePath, to: f.adapter, type: .F32)
        cache[adapter] = f
        return f
    }

    private func generator(_ model: BloomModel) throws -> Generator {
        Generator(model: model, tokenizer: try BloomTokenizer(ggufMetadata: model.metadata),
                  pool: try ThreadPool(threads: 2))
    }

    private func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
    }

    private func lastLogits(_ model: BloomModel, _ ids: [TokenID]) throws -> [Float] {
        let ctx = try InferenceContext(model: model, pool: try ThreadPool(threads: 2), capacity: ids.count)
        return Array(try ctx.evaluate(ids))
    }

    /// Greedy (24 tokens) and beam-4 (16) ids equal the merged model's, and logits stay within 1e-4 of its, on every
    /// fixture adapter; the merged alpaca-b's transformers+PEFT ids and logits are met too.
    func testAdaptersAtLoadTimeEqualTheMergedModel() throws {
        for c in Self.cases {
            let f = try Self.files(c.adapter, c.base, c.prompts)
            let withAdapter = try BloomModel(path: f.base, adapters: [LoRARequest(path: f.adapter)])
            let merged = try BloomModel(path: f.merged)
            let (g, gm) = (try generator(withAdapter), try generator(merged))
            for p in try GenerationCase.load(c.prompts).prefix(8) {
                let what = "\(c.adapter): \(p.prompt.debugDescription)"
                let logits = try lastLogits(withAdapter, p.promptIDs)
                XCTAssertLessThan(maxDifference(logits, try lastLogits(merged, p.promptIDs)), 1e-4, what)
                let greedy = GenerationRequest(prompt: p.prompt, maxTokens: 24)
                let beam = GenerationRequest(prompt: p.prompt, maxTokens: 16, beams: 4)
                let ids = try g.generate(tokens: p.promptIDs, greedy).idsWithEOS
                let beamIDs = try g.generate(tokens: p.promptIDs, beam).idsWithEOS
                XCTAssertEqual(ids, try gm.generate(tokens: p.promptIDs, greedy).idsWithEOS, "greedy, " + what)
                XCTAssertEqual(beamIDs, try gm.generate(tokens: p.promptIDs, beam).idsWithEOS, "beam-4, " + what)
                guard c.prompts == "alpaca-b-merged" else { continue }
                XCTAssertEqual(ids, p.greedy, "greedy vs transformers+PEFT, " + what)
                XCTAssertEqual(beamIDs, p.beam4, "beam-4 vs transformers+PEFT, " + what)
                if let expected = p.lastLogits {
                    XCTAssertLessThan(maxDifference(logits, expected), 1e-4, "logits vs transformers+PEFT, " + what)
                }
            }
        }
    }

    /// --lora-scaled FILE 0 is the base; two adapters at 0.5 make one at 1, which differs from one at 0.5; the base
    /// file is the same bytes before and after.
    func testTheScaleScalesTheUpdate() throws {
        let c = Self.cases[1]
        let f = try Self.files(c.adapter, c.base, c.prompts)
        let ids = try XCTUnwrap(GenerationCase.load(c.prompts).first).promptIDs
        let before = try Data(contentsOf: URL(fileURLWithPath: f.base))
        func logits(_ scales: [Float]) throws -> [Float] {
            let requests = scales.map { LoRARequest(path: f.adapter, scale: $0) }
            return try lastLogits(try BloomModel(path: f.base, adapters: requests), ids)
        }
        XCTAssertLessThan(maxDifference(try logits([]), try logits([0])), 1e-6, "scale 0 is the base")
        let one = try logits([1])
        XCTAssertLessThan(maxDifference(one, try logits([0.5, 0.5])), 1e-4, "two halves make one")
        XCTAssertGreaterThan(maxDifference(one, try logits([0.5])), 1e-3, "the scale changes nothing")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: f.base)), before)
    }

    /// An adapter for another base, a model file given as an adapter, and a broken pair are refused, naming the
    /// problem.
    func testMismatchesAreRefused() throws {
        let a = try Self.files(Self.cases[0].adapter, Self.cases[0].base, Self.cases[0].prompts)  // tiny-b
        let b = try Self.files(Self.cases[1].adapter, Self.cases[1].base, Self.cases[1].prompts)  // tiny-a
        func refused(_ model: String, _ adapter: String, _ words: String, line: UInt = #line) {
            let request = [LoRARequest(path: adapter)]
            XCTAssertThrowsError(try BloomModel(path: model, adapters: request), line: line) { error in
                guard let e = error as? BloomError else { return XCTFail("\(error)", line: line) }
                XCTAssertEqual(e.code, .loraAdapterFile, line: line)
                XCTAssertEqual(e.path, adapter, line: line)
                XCTAssertTrue(e.message.contains(words), e.message, line: line)
            }
        }
        refused(b.base, a.adapter, "made for a base with hidden 96")
        refused(b.base, b.merged, "not 'adapter'")

        // The same adapter without the recorded base (as llama.cpp's converter writes it): the shapes still decide.
        let file = try GGUFFile(path: a.adapter)
        var metadata = file.metadata
        let hyperParameters = try BloomModel(path: a.base).hyperParameters
        for (key, _) in BloomLoRAProfile.baseEntries(hyperParameters) { metadata.remove(key) }
        let scratch = try TempDir("lora-runtime")
        let stripped = scratch.file("no-base.gguf")
        try rewrite(file, metadata: metadata, dropping: [], to: stripped)
        refused(b.base, stripped, "wrong base model")
        XCTAssertNoThrow(try BloomModel(path: a.base, adapters: [LoRARequest(path: stripped)]))
        let halfPair = scratch.file("half.gguf")
        try rewrite(file, metadata: file.metadata, dropping: ["blk.1.ffn_up.weight.lora_b"], to: halfPair)
        refused(a.base, halfPair, "only one of lora_a and lora_b")
    }

    private func rewrite(_ file: GGUFFile, metadata: GGUFMetadata, dropping: Set<String>, to path: String) throws {
        var metadata = metadata
        metadata.remove(BloomGGUFKeys.tensorChecksums)
        let kept = file.tensors.filter { !dropping.contains($0.name) }
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: kept.map(\.info))
        for t in kept { try writer.write(tensorNamed: t.name, t.bytes) }
        try writer.commit()
    }
}
