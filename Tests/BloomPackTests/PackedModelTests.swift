import BloomCore
import BloomCheckpoint
import BloomConvert
@testable import BloomPack
import Foundation
import TestSupport
import XCTest

/// convert and merge reading a .bkz model folder in place: the same bytes as from the unpacked folder, no weight
/// byte on disk, the scratch folder gone afterwards, and one clear error (nothing under the output name) for a .bkz
/// that is not a model or is damaged.
final class PackedModelTests: XCTestCase {
    private var tmp = ""

    override func setUpWithError() throws { tmp = try PackFixtures.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    /// Packs `relative` (under Tests/Fixtures) as `<tmp>/<its folder name>.bkz`, in small chunks so that tensors
    /// span several chunks and row reads start and end inside them.
    private func pack(_ relative: String) throws -> (folder: String, bkz: String) {
        let folder = try PackFixtures.root() + "/" + relative
        let bkz = tmp + "/" + Paths.basename(folder) + ".bkz"
        _ = try Packer.pack(input: folder, output: bkz, options: PackFixtures.options)
        return (folder, bkz)
    }

    private func convert(_ source: String, _ output: String, _ type: FileType) throws -> [UInt8] {
        var options = ConvertOptions()
        options.type = type
        _ = try Converter.convert(ConvertInput(folder: source), to: output, options: options)
        return try PackFixtures.bytes(output)
    }

    func testConvertReadsAPackedFolderByteForByte() throws {
        for (relative, type) in [("models/tiny-a/st-bf16-sharded", FileType.F16), ("models/tiny-a/st-bf16-sharded",
                                 .Q8_0), ("models/tiny-b/st-f16", .F32), ("models/tiny-b/st-f16", .Q4_0)] {
            let (folder, bkz) = try pack(relative)
            let fromFolder = try convert(folder, tmp + "/folder.gguf", type)
            let fromPacked = try convert(bkz, tmp + "/packed.gguf", type)
            XCTAssertEqual(fromFolder.count, fromPacked.count, "\(relative) \(type)")
            XCTAssertTrue(fromFolder == fromPacked, "\(relative) \(type): the GGUF files differ")
        }
    }

    func testMergeReadsAPackedBaseByteForByte() throws {
        let (folder, bkz) = try pack("models/tiny-a/st-bf16-sharded")
        let adapter = try PackFixtures.root() + "/adapters/rslora-a"
        let options = MergeOptions(quiet: true)
        let plain = try MergePipeline.run(base: folder, adapters: [adapter], output: tmp + "/m1", options: options)
        var warnings: [String] = []
        let packed = try MergePipeline.run(base: bkz, adapters: [adapter], output: tmp + "/m2", options: options) {
            warnings.append($0)
        }
        XCTAssertEqual(plain.changedTensors, packed.changedTensors)
        XCTAssertFalse(packed.changedTensors.isEmpty)
        let (a, b) = (try PackFixtures.tree(tmp + "/m1"), try PackFixtures.tree(tmp + "/m2"))
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        for (name, bytes) in a { XCTAssertTrue(bytes == b[name], "merged \(name) differs") }
        // The .bkz stands for the folder it packs: the base's name is compared without `.bkz`.
        XCTAssertFalse(warnings.contains { $0.contains(".bkz") }, "\(warnings)")
    }

    func testTheScratchFolderHoldsNoWeightsAndGoesWithTheModel() throws {
        let (_, bkz) = try pack("models/tiny-a/st-bf16-sharded")
        var scratch = ""
        do {
            let model = try PackedModel(path: bkz)
            scratch = model.folder.path
            XCTAssertEqual(Paths.basename(scratch), "st-bf16-sharded")
            let names = try FileManager.default.contentsOfDirectory(atPath: scratch)
            XCTAssertTrue(names.contains("config.json") && names.contains("model.safetensors.index.json"), "\(names)")
            XCTAssertFalse(names.contains { $0.hasSuffix(".safetensors") }, "\(names)")
            XCTAssertEqual(model.tensors.map(\.name), model.folder.tensors.map(\.name))
            // Rows read out of order and across chunk boundaries give the stored values.
            let embedding = try XCTUnwrap(model.tensors.first { $0.name.hasSuffix("word_embeddings.weight") })
            let view = try XCTUnwrap(Checkpoint.open(PackFixtures.root()
                + "/models/tiny-a/st-bf16-sharded/model.safetensors.index.json").tensors.first {
                    $0.name == embedding.name })
            let expected = try view.floats()
            let rows = embedding.rowCount, n = embedding.rowLength
            var got = [Float](repeating: .nan, count: rows * n)
            for start in stride(from: 0, to: rows, by: 7).reversed() {
                let count = min(7, rows - start)
                try got.withUnsafeMutableBufferPointer {
                    try embedding.readRows(start, count, UnsafeMutableBufferPointer(rebasing: $0[(start * n)...]
                        .prefix(count * n)))
                }
            }
            XCTAssertEqual(got, expected)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch))
        XCTAssertFalse(FileManager.default.fileExists(atPath: (scratch as NSString).deletingLastPathComponent))
    }

    func testScratchFoldersOfDeadProcessesAreRemoved() throws {
        // PID 2^22 + 1 is past Linux's largest (pid_max ≤ 2^22): never a live process.
        let dead = tmp + "/" + ScratchFolder.prefix + "4194305.abc123", live = tmp + "/" + ScratchFolder.prefix
            + "\(getpid()).abc123"
        for folder in [dead, live] {
            try FileManager.default.createDirectory(atPath: folder + "/model", withIntermediateDirectories: true)
        }
        ScratchFolder.removeStale(in: tmp)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live + "/model"))
    }

    func testAnEmptyTensorIsReadWithoutBytes() throws {
        // A model folder whose safetensors file holds an empty tensor between two others (the packer stores no
        // segment for it).
        let folder = tmp + "/empty-tensor"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try PackFixtures.write(Array("{\"n_layer\": 0}".utf8), folder + "/config.json")
        let values: [Float] = [1, -2, 3.5, 0.25]
        let tensors = [SourceTensor(name: "a", dtype: .F32, shape: [2, 2]) { start, count, dst in
            for i in 0..<(count * 2) { dst[i] = values[start * 2 + i] }
        }, SourceTensor(name: "empty", dtype: .F16, shape: [0, 3]) { _, _, _ in },
           SourceTensor(name: "z", dtype: .F16, shape: [4]) { start, count, dst in
            for i in 0..<count { dst[i] = values[start + i] }
        }]
        let out = try AtomicFile(destination: folder + "/model.safetensors")
        try SafetensorsWriter.write(tensors.map { SafetensorsWriter.Entry($0, as: $0.dtype) }, to: out)
        try out.commit()
        _ = try Packer.pack(input: folder, output: tmp + "/empty-tensor.bkz", options: PackFixtures.options)

        let model = try PackedModel(path: tmp + "/empty-tensor.bkz")
        XCTAssertEqual(model.tensors.map(\.name), ["a", "empty", "z"])
        XCTAssertEqual(try model.tensors.map { try $0.floats() }, [values, [], values])
    }

    /// `ConvertInput(folder:)` fails with `code` naming the .bkz, and no GGUF is written.
    private func expectConvert(_ code: BloomError.Code, _ bkz: String, file: StaticString = #filePath,
                               line: UInt = #line) {
        let out = tmp + "/out.gguf"
        if let e = assertBloomError(code, file: file, line: line, {
            try Converter.convert(ConvertInput(folder: bkz), to: out, options: ConvertOptions())
        }) {
            XCTAssertEqual(e.path, bkz, file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "output written", file: file, line: line)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []
        XCTAssertEqual(left.filter { $0.contains(AtomicFile.temporaryMarker) }, [], file: file, line: line)
    }

    func testAPackedThingThatIsNotAModelIsRefused() throws {
        // One file (a safetensors file), an adapter folder (no config.json), PyTorch weights (not streamed).
        expectConvert(.unsupported, try pack("models/tiny-b/st-f16/model.safetensors").bkz)
        expectConvert(.missingFile, try pack("adapters/rslora-a").bkz)
        expectConvert(.unsupported, try pack("models/tiny-a/bin-f32").bkz)
    }

    func testADamagedPackedModelFailsWithNothingWritten() throws {
        let (_, bkz) = try pack("models/tiny-b/st-f16")
        let good = try PackFixtures.bytes(bkz)
        let index = try good.withUnsafeBytes { try BKZFormat.decode(file: $0) }
        for n in [40, good.count / 2, good.count - 1] {
            try PackFixtures.write(Array(good[0..<n]), bkz)
            expectConvert(.bkzBadIndex, bkz)
        }
        try PackFixtures.write(Array(good[0..<3]), bkz)
        expectConvert(.truncated, bkz)
        // A tensor's chunk whose checksum no longer matches: found while rows stream, after the output was opened.
        let s = try XCTUnwrap(index.segments.lastIndex { $0.name.hasSuffix("word_embeddings.weight") })
        try PackFixtures.write(try PackFixtures.rewritingIndex(good) { index in
            index.chunks[index.segments[s].chunks.upperBound - 1].checksum ^= 1
        }, bkz)
        expectConvert(.bkzChecksumMismatch, bkz)
    }
}
