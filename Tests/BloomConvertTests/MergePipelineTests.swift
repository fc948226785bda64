import BloomCheckpoint
@testable import BloomConvert
@testable import BloomCore
import BloomLoRA
import TestSupport
import XCTest

/// `bloomkit merge` end to end: the written folder, re-read by our readers, holds PEFT's merged weights.
final class MergePipelineTests: XCTestCase {
    static func fixture(_ relative: String) -> String { Fixtures.root + "/" + relative }

    /// The f32 base folder each adapter was merged into by the fixture script.
    static let bases = [
        "alpaca-b": "models/tiny-b/bin-f32-lmhead", "lora-bin-a": "models/tiny-a/bin-f32",
        "rslora-a": "models/tiny-a/bin-f32", "lora-2023-a": "models/tiny-a/bin-f32",
    ]

    private var folder: TempDir!
    var scratch: String { folder.path }

    override func setUpWithError() throws { folder = try TempDir("merge") }

    override func tearDown() { folder = nil }

    func merge(_ adapters: [String], base: String, output: String = "out", dtype: MergeDType = .f32,
               maxShardSize: Int = MergeOptions.defaultMaxShardSize,
               warnings: inout [String]) throws -> (String, MergeSummary) {
        let out = scratch + "/" + output
        var seen: [String] = []
        let summary = try MergePipeline.run(base: base, adapters: adapters, output: out,
                                            options: MergeOptions(dtype: dtype, maxShardSize: maxShardSize,
                                                                  quiet: true)) {
            seen.append($0)
        }
        warnings = seen
        return (out, summary)
    }

    func merge(_ adapter: String, dtype: MergeDType = .f32, maxShardSize: Int = MergeOptions.defaultMaxShardSize,
               base: String? = nil, output: String = "out") throws -> (String, MergeSummary) {
        var warnings: [String] = []
        let result = try merge([Self.fixture("adapters/" + adapter)], base: base ?? Self.fixture(Self.bases[adapter]!),
                               output: output, dtype: dtype, maxShardSize: maxShardSize, warnings: &warnings)
        XCTAssertEqual(warnings, [], adapter)
        return result
    }

    static func floats(_ view: TensorView) throws -> [Float] { try view.floats() }

    static func contents(_ path: String) throws -> [UInt8] {
        let file = try MappedFile(path: path)
        return withExtendedLifetime(file) { Array(file.bytes) }
    }

    /// Every element within 1e-6 of `want`, relative to the magnitudes the sum was made of (see LoRAMergeTests).
    static func worstError(_ got: [Float], _ want: [Float], base: [Float]) -> Float {
        var worst: Float = got.count == want.count ? 0 : .infinity
        for i in 0..<min(got.count, want.count, base.count) {
            let scale = max(abs(want[i]), abs(base[i]), abs(want[i] - base[i]), Float.leastNormalMagnitude)
            worst = max(worst, abs(got[i] - want[i]) / scale)
        }
        return worst
    }

    static func mismatches(_ a: [Float], _ b: [Float]) -> Int {
        zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count + abs(a.count - b.count)
    }

    /// Each adapter fixture merged with --dtype f32 equals PEFT's merged tensors; untouched tensors are bit-identical;
    /// the folder is one transformers loads (config.json with the dtype, tokenizer files, model.safetensors, no tied
    /// head).
    func testEveryAdapterFixtureMatchesPEFT() throws {
        for adapter in ["alpaca-b", "lora-bin-a", "rslora-a", "lora-2023-a"] {
            let (out, summary) = try merge(adapter, output: adapter)
            let basePath = Self.fixture(Self.bases[adapter]!)
            XCTAssertEqual(Set(summary.files), ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                                "model.safetensors", "config.json"], adapter)
            XCTAssertEqual(summary.files.last, "config.json")
            XCTAssertEqual(try Self.contents(out + "/tokenizer.json"), try Self.contents(basePath + "/tokenizer.json"))

            let merged = try ModelFolder(path: out)
            let base = try ModelFolder(path: basePath)
            let expected = try SafetensorsFile(path: Self.fixture("expected/merged/\(adapter).safetensors"))
            XCTAssertEqual(merged.config["torch_dtype"]?.string ?? merged.config["dtype"]?.string, "float32")
            XCTAssertEqual(merged.config["tie_word_embeddings"]?.bool, true)
            if case .safetensors(let file)? = merged.checkpoint.files.first {
                XCTAssertEqual(file.metadata.map(\.key), ["format"])
                XCTAssertEqual(file.metadata.map(\.value), ["pt"])
            } else {
                XCTFail("\(adapter): the merged weights are not one safetensors file")
            }
            XCTAssertNil(merged.tensors.first { $0.name == "lm_head.weight" }, "\(adapter): tied lm_head written")
            // The base's names, in the base's order (its lm_head left out when tied).
            XCTAssertEqual(merged.tensors.map(\.name), base.tensors.map(\.name).filter { $0 != "lm_head.weight" })

            var changed = 0
            for view in merged.tensors {
                XCTAssertEqual(view.dtype, .F32)
                let original = try Self.floats(base.requireTensor(view.name))
                let want = expected.tensors.first {
                    ModelFolder.canonicalName($0.name) == ModelFolder.canonicalName(view.name)
                }
                if let want {
                    changed += 1
                    let error = Self.worstError(try view.floats(), try want.floats(), base: original)
                    XCTAssertLessThanOrEqual(error, 1e-6, "\(adapter) \(view.name)")
                } else {
                    XCTAssertEqual(Self.mismatches(try view.floats(), original), 0,
                                   "\(adapter): untouched \(view.name) changed")
                }
            }
            XCTAssertEqual(changed, expected.tensors.count, adapter)
            XCTAssertEqual(summary.changedTensors.count, expected.tensors.count, adapter)
        }
    }

    /// Shards of at most --max-shard-size data bytes, named and indexed as transformers does; same tensors as one file.
    func testShardsAndIndex() throws {
        let limit = 300_000
        let (sharded, summary) = try merge("alpaca-b", maxShardSize: limit)
        let shardNames = summary.files.filter { $0.hasSuffix(".safetensors") }
        XCTAssertGreaterThan(shardNames.count, 1)
        XCTAssertEqual(shardNames.first, "model-00001-of-\(MergeOutput.pad5(shardNames.count)).safetensors")
        XCTAssertEqual(Array(summary.files.suffix(2)), ["model.safetensors.index.json", "config.json"])
        for name in shardNames {
            let shard = try SafetensorsFile(path: sharded + "/" + name)
            let bytes = shard.tensors.reduce(0) { $0 + $1.byteCount }
            XCTAssertTrue(bytes <= limit || shard.tensors.count == 1, "\(name) holds \(bytes) bytes")
        }
        let index = try JSONParser().parse(String(contentsOfFile: sharded + "/model.safetensors.index.json",
                                                  encoding: .utf8))
        XCTAssertEqual(index["metadata"]?["total_size"]?.int, summary.bytes)

        let single = try ModelFolder(path: merge("alpaca-b", output: "single").0)
        let shardedFolder = try ModelFolder(path: sharded)
        XCTAssertEqual(shardedFolder.tensors.map(\.name), single.tensors.map(\.name))
        XCTAssertEqual(index["weight_map"]?.object?.map(\.0), single.tensors.map(\.name))
        for (a, b) in zip(shardedFolder.tensors, single.tensors) {
            XCTAssertEqual(Self.mismatches(try a.floats(), try b.floats()), 0, a.name)
        }
    }

    /// --dtype auto keeps the base's dtype; tensors no adapter touched keep their exact bytes.
    func testAutoKeepsTheBaseDTypeAndUntouchedBytes() throws {
        let basePath = Self.fixture("models/tiny-a/st-bf16-sharded")
        let (out, summary) = try merge("lora-bin-a", dtype: .auto, base: basePath)
        let merged = try ModelFolder(path: out)
        let base = try ModelFolder(path: basePath)
        XCTAssertEqual(merged.config["dtype"]?.string, base.config["dtype"]?.string)
        for view in merged.tensors {
            let original = try base.requireTensor(view.name)
            XCTAssertEqual(view.dtype, original.dtype)
            if !summary.changedTensors.contains(view.name) {
                XCTAssertTrue(view.bytes.elementsEqual(original.bytes), "\(view.name) bytes changed")
            }
        }
    }

    /// A write failing midway (a full disk, injected) leaves nothing that looks like a model, and no temporaries.
    func testInjectedWriteFailureLeavesNothing() throws {
        AtomicFile.injectedFailureAfter = 200_000  // past tokenizer.json, inside the first shard
        defer { AtomicFile.injectedFailureAfter = nil }
        var warnings: [String] = []
        XCTAssertThrowsError(try merge([Self.fixture("adapters/alpaca-b")], base: Self.fixture(Self.bases["alpaca-b"]!),
                                       maxShardSize: 300_000, warnings: &warnings)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .io)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/out"), "the folder the merge created")
    }

    func testRefusals() throws {
        let base = Self.fixture("models/tiny-a/bin-f32")
        let adapter = Self.fixture("adapters/lora-bin-a")
        let before = try MergeOutput.entries(of: base)
        func expect(_ code: BloomError.Code, _ adapters: [String], base: String, output: String,
                    mentions: String? = nil,
                    line: UInt = #line) {
            var warnings: [String] = []
            XCTAssertThrowsError(try MergePipeline.run(base: base, adapters: adapters, output: output,
                                                       options: MergeOptions(quiet: true)) { warnings.append($0) },
                                 line: line) { error in
                let e = error as? BloomError
                XCTAssertEqual(e?.code, code, "\(error)", line: line)
                if let mentions { XCTAssertTrue("\(error)".contains(mentions), "\(error)", line: line) }
            }
        }
        // The output is an input.
        expect(.invalidArgument, [adapter], base: base, output: base)
        expect(.invalidArgument, [adapter], base: base, output: adapter + "/")
        XCTAssertEqual(try MergeOutput.entries(of: base), before)
        // Shapes that do not fit (an adapter trained on tiny-b): one error naming the tensor, nothing created.
        expect(.loraShapeMismatch, [Self.fixture("adapters/alpaca-b")], base: base, output: scratch + "/a",
               mentions: "h.0.mlp.dense_4h_to_h.weight")
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/a"))
        // DoRA is refused, not merged as plain LoRA.
        let dora = scratch + "/dora"
        try FileManager.default.copyItem(atPath: adapter, toPath: dora)
        let config = try String(contentsOfFile: dora + "/adapter_config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "\"use_dora\": false", with: "\"use_dora\": true")
            .write(toFile: dora + "/adapter_config.json", atomically: true, encoding: .utf8)
        expect(.loraUnsupported, [dora], base: base, output: scratch + "/b", mentions: "DoRA")
        // A folder already holding something.
        try FileManager.default.createDirectory(atPath: scratch + "/full", withIntermediateDirectories: false)
        XCTAssertTrue(FileManager.default.createFile(atPath: scratch + "/full/keep.txt", contents: Data()))
        expect(.invalidArgument, [adapter], base: base, output: scratch + "/full", mentions: "not empty")
    }

    /// A base whose config.json disagrees with its weights is refused as convert refuses it, naming config.json, the
    /// key or tensor and the value; nothing is written and the base is untouched.
    func testABaseWhoseConfigDisagreesWithItsWeightsIsRefused() throws {
        let adapter = Self.fixture("adapters/lora-bin-a")
        let original = try String(contentsOfFile: Self.fixture("models/tiny-a/bin-f32/config.json"), encoding: .utf8)
        let cases: [(edit: String, code: BloomError.Code, location: String, mentions: String)] = [
            ("\"n_head\": 5", .bloomConfig, "key 'n_head'", "head count 5"),
            ("\"n_head\": 128", .bloomConfig, "key 'n_head'", "head count 128 is not in 1...64"),
            ("\"n_layer\": 1", .invalidArgument, "h.1.input_layernorm.bias", "n_layer 1"),
        ]
        for (n, c) in cases.enumerated() {
            let base = scratch + "/base\(n)"
            try FileManager.default.copyItem(atPath: Self.fixture("models/tiny-a/bin-f32"), toPath: base)
            let key = String(c.edit.prefix { $0 != ":" })
            let edited = original.replacingOccurrences(of: key + ": 4", with: c.edit)
                .replacingOccurrences(of: key + ": 2", with: c.edit)
            XCTAssertNotEqual(edited, original, c.edit)
            try edited.write(toFile: base + "/config.json", atomically: true, encoding: .utf8)
            let before = try MergeOutput.entries(of: base)
            XCTAssertThrowsError(try MergePipeline.run(base: base, adapters: [adapter], output: scratch + "/o\(n)",
                                                       options: MergeOptions(quiet: true))) { error in
                let e = error as? BloomError
                XCTAssertEqual(e?.code, c.code, "\(error)")
                XCTAssertEqual(e?.path, base + "/config.json", "\(error)")
                XCTAssertEqual(e?.location, c.location, "\(error)")
                XCTAssertTrue(e?.message.contains(c.mentions) ?? false, "\(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/o\(n)"))
            XCTAssertEqual(try MergeOutput.entries(of: base), before)
        }
    }

    /// A copy of alpaca-b whose lora_B tensors `poisoned` (module names) start with `value`.
    func poisonedAdapter(_ poisoned: [String], value: Float, name: String) throws -> String {
        let path = scratch + "/" + name
        try FileManager.default.copyItem(atPath: Self.fixture("adapters/alpaca-b"), toPath: path)
        let weights = path + "/adapter_model.safetensors"
        let offsets = try SafetensorsFile(path: weights).tensors.map { ($0.name, $0.fileOffset) }
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: weights))
        defer { try? handle.close() }
        for module in poisoned {
            let offset = try XCTUnwrap(offsets.first { $0.0 == "base_model.model." + module + ".lora_B.weight" }?.1)
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: withUnsafeBytes(of: value.bitPattern.littleEndian) { Data($0) })
        }
        return path
    }

    /// Merged values that are NaN, infinite or past the stored dtype's range: refused naming every such tensor,
    /// nothing left at the output and the inputs unchanged; with allowNonFinite, kept with a warning naming them.
    func testNonFiniteMergeResultsAreRefusedOrKeptWithAWarning() throws {
        let base = Self.fixture(Self.bases["alpaca-b"]!)
        let modules = ["transformer.h.0.mlp.dense_4h_to_h", "transformer.h.1.self_attention.query_key_value"]
        let nan = try poisonedAdapter(modules, value: .nan, name: "nan")
        let huge = try poisonedAdapter(modules, value: 1e30, name: "huge")  // finite in f32, not in f16
        let inputs = [base, nan, huge]
        let hashes = try inputs.flatMap { folder in
            try MergeOutput.entries(of: folder).map { try SHA256.hex(Self.contents(folder + "/" + $0)) }
        }
        func refused(_ adapter: String, dtype: MergeDType, limit: String, line: UInt = #line) {
            let out = scratch + "/refused-\(UUID().uuidString.prefix(6))"
            var warnings: [String] = []
            XCTAssertThrowsError(try MergePipeline.run(base: base, adapters: [adapter], output: out,
                                                       options: MergeOptions(dtype: dtype, quiet: true)) {
                warnings.append($0)
            }, line: line) { error in
                let e = error as? BloomError
                XCTAssertEqual(e?.code, .loraNonFinite, "\(error)", line: line)
                XCTAssertEqual(e?.path, adapter, "\(error)", line: line)
                XCTAssertEqual(e?.location, modules[0] + ".weight", "\(error)", line: line)
                for m in modules {
                    XCTAssertTrue(e?.message.contains("'\(m).weight'") ?? false, "\(error)", line: line)
                }
                XCTAssertTrue(e?.message.contains("in 2 tensor(s)") ?? false, "\(error)", line: line)
                XCTAssertTrue(e?.message.contains("at most \(limit)") ?? false, "\(error)", line: line)
            }
            XCTAssertEqual(warnings, [], line: line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), line: line)
        }
        refused(nan, dtype: .f32, limit: "\(Float.greatestFiniteMagnitude)")
        refused(huge, dtype: .f16, limit: "65504.0")
        // The same values stored in f32 are finite: merged without a word.
        var quiet: [String] = []
        XCTAssertNoThrow(try merge([huge], base: base, output: "huge-f32", dtype: .f32, warnings: &quiet))
        XCTAssertEqual(quiet, [])

        var options = MergeOptions(dtype: .f32, quiet: true)
        options.allowNonFinite = true
        var warnings: [String] = []
        let out = scratch + "/kept"
        let summary = try MergePipeline.run(base: base, adapters: [nan], output: out, options: options) {
            warnings.append($0)
        }
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.hasPrefix("kept 2 merged tensor(s)") ?? false, "\(warnings)")
        for m in modules { XCTAssertTrue(warnings.first?.contains("'\(m).weight'") ?? false, "\(warnings)") }
        XCTAssertTrue(summary.files.contains("config.json"))
        let merged = try SafetensorsFile(path: out + "/model.safetensors")
        for m in modules {
            let view = try XCTUnwrap(merged.tensors.first { $0.name == m + ".weight" })
            XCTAssertTrue(try Self.floats(view).contains { $0.isNaN }, m)
        }
        XCTAssertEqual(try inputs.flatMap { folder in
            try MergeOutput.entries(of: folder).map { try SHA256.hex(Self.contents(folder + "/" + $0)) }
        }, hashes, "an input changed")
    }

    /// An adapter whose base_model_name_or_path names another model: merged, with a warning.
    func testWarnsWhenTheAdapterNamesAnotherBase() throws {
        let other = scratch + "/some-other-model"
        try FileManager.default.createSymbolicLink(atPath: other,
                                                   withDestinationPath: Self.fixture("models/tiny-a/bin-f32"))
        var warnings: [String] = []
        _ = try merge([Self.fixture("adapters/lora-bin-a")], base: other, warnings: &warnings)
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("bloomkit/tiny-a") ?? false, "\(warnings)")
    }

    /// Adapters apply in order: deltas add up, a later replacement wins.
    func testSeveralAdaptersInOrder() throws {
        let basePath = Self.fixture("models/tiny-a/bin-f32")
        var warnings: [String] = []
        let (out, _) = try merge([Self.fixture("adapters/lora-bin-a"), Self.fixture("adapters/rslora-a")],
                                 base: basePath,
                                 warnings: &warnings)
        let merged = try ModelFolder(path: out)
        let base = try ModelFolder(path: basePath)
        let first = try SafetensorsFile(path: Self.fixture("expected/merged/lora-bin-a.safetensors"))
        let second = try SafetensorsFile(path: Self.fixture("expected/merged/rslora-a.safetensors"))
        func find(_ file: SafetensorsFile, _ name: String) -> TensorView? {
            file.tensors.first { ModelFolder.canonicalName($0.name) == ModelFolder.canonicalName(name) }
        }
        for view in merged.tensors {
            let original = try base.requireTensor(view.name).floats()
            let a = try find(first, view.name)?.floats() ?? original
            let b = try find(second, view.name)?.floats() ?? original
            // Replacements (rslora-a's trained biases) win outright; deltas add.
            let isReplacedBias = view.name.hasSuffix(".bias") && find(second, view.name) != nil
            let want = isReplacedBias ? b : zip(zip(a, b), original).map { $0.0 + $0.1 - $1 }
            let error = Self.worstError(try view.floats(), want, base: original)
            XCTAssertLessThanOrEqual(error, isReplacedBias ? 0 : 2e-6, view.name)
        }
    }

    /// modules_to_save on the output head of a tied base: the trained head is written as lm_head.weight and
    /// tie_word_embeddings becomes false, as PEFT's merge_and_unload does.
    func testModulesToSaveHeadUntiesEmbeddings() throws {
        let basePath = Self.fixture("models/tiny-a/bin-f32")
        let source = try Checkpoint.open(Self.fixture("adapters/lora-bin-a/adapter_model.bin")).tensors
        let words = try ModelFolder(path: basePath).requireTensor("word_embeddings.weight")
        // A trained head: the embeddings halved (any tensor of the right shape that differs from them).
        let head = SourceTensor(name: "base_model.model.lm_head.weight", dtype: .F32, shape: words.shape) { start,
                                                                                                           count, dst in
            try words.readFloats(into: dst, elementOffset: start * words.shape[1])
            for k in dst.indices { dst[k] *= 0.5 }
        }
        let adapter = scratch + "/with-head"
        try FileManager.default.createDirectory(atPath: adapter, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: Self.fixture("adapters/lora-bin-a/adapter_config.json"),
                                         toPath: adapter + "/adapter_config.json")
        try SafetensorsWriter.write((source.map(SourceTensor.init) + [head]).map { SafetensorsWriter.Entry($0,
                                                                                                           as: .F32) },
                                    toPath: adapter + "/adapter_model.safetensors")
        var warnings: [String] = []
        let (out, _) = try merge([adapter], base: basePath, warnings: &warnings)
        let merged = try ModelFolder(path: out)
        XCTAssertEqual(merged.config["tie_word_embeddings"]?.bool, false)
        let written = try merged.checkpoint.tensor(named: "lm_head.weight").map(Self.floats)
        XCTAssertEqual(Self.mismatches(written ?? [], try head.floats()), 0)
        XCTAssertEqual(Self.mismatches(try merged.requireTensor("word_embeddings.weight").floats(), try words.floats()),
                       0)
    }
}
