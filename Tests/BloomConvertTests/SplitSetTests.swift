import BloomArch
import BloomCore
@testable import BloomConvert
import BloomGGUF
import Foundation
import TestSupport
import XCTest

/// `convert`/`quantize` with split limits write llama.cpp's gguf-split layout; GGUFSplitSet reads it back as one model
/// and refuses a set with a missing or foreign part. (llama.cpp itself on these sets:
/// scripts/check-llama-cpp-split.sh.)
final class SplitSetTests: XCTestCase {
    var dir: TempDir!
    var tmp: URL { dir.url }

    override func setUpWithError() throws { dir = try TempDir("publish") }
    override func tearDown() { dir = nil }

    func path(_ name: String) -> String { tmp.appendingPathComponent(name).path }

    func tinyB() throws -> String { try Fixtures.path("models/tiny-b/st-f16") }

    /// The tiny fixture model as one F32 file and as a set of `maxTensors` tensors per part.
    func convertBoth(maxTensors: Int) throws -> (single: String, report: ConvertReport) {
        let input = try ConvertInput(folder: try tinyB())
        var options = ConvertOptions()
        options.type = .F32
        _ = try Converter.convert(input, to: path("single.gguf"), options: options)
        options.split = SplitLimits(maxTensors: maxTensors)
        return (path("single.gguf"), try Converter.convert(input, to: path("split.gguf"), options: options))
    }

    func testSplitSetHoldsTheSingleFilesTensorsAndMetadata() throws {
        let (single, report) = try convertBoth(maxTensors: 11)
        let names = (1...4).map { GGUFSplitSet.partPath(prefix: path("split"), number: $0, count: 4) }
        XCTAssertEqual(report.parts, names)
        XCTAssertEqual(report.path, path("split-00001-of-00004.gguf"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("split.gguf")))
        let one = try GGUFFile(path: single)
        let set = try GGUFSplitSet(path: names[0])
        XCTAssertEqual(set.parts.map(\.tensors.count), [11, 11, 11, 8])
        XCTAssertEqual(set.tensors.map(\.info.name), one.tensors.map(\.info.name))
        for (a, b) in zip(set.tensors, one.tensors) {
            XCTAssertEqual(a.type, b.type)
            XCTAssertEqual(a.ne, b.ne)
            XCTAssertEqual(Array(a.bytes), Array(b.bytes), a.name)
        }
        for (k, part) in set.parts.enumerated() {
            XCTAssertEqual(try part.metadata.uint16("split.no"), UInt16(k))
            XCTAssertEqual(try part.metadata.uint16("split.count"), 4)
            XCTAssertEqual(try part.metadata.int32("split.tensors.count"), Int32(one.tensors.count))
            XCTAssertEqual(try part.metadata.uint64Array(BloomGGUFKeys.tensorChecksums).count, part.tensors.count)
            if k > 0 {
                XCTAssertEqual(part.metadata.entries.map(\.key),
                               ["split.no", "split.count", "split.tensors.count", BloomGGUFKeys.tensorChecksums])
            }
        }
        // The first part holds the single file's metadata (its checksums aside) followed by the split keys.
        let splitKeys: Set = ["split.no", "split.count", "split.tensors.count", BloomGGUFKeys.tensorChecksums]
        XCTAssertEqual(set.metadata.entries.map(\.key).filter { !splitKeys.contains($0) },
                       one.metadata.entries.map(\.key).filter { $0 != BloomGGUFKeys.tensorChecksums })
        let report2 = try GGUFVerifier.verify(path: names[0])
        XCTAssertEqual(report2.tensorCount, one.tensors.count)
        XCTAssertEqual(report2.checkedChecksums, one.tensors.count)
    }

    func testQuantizeReadsASetAndWritesOneFileOrASet() throws {
        let (single, _) = try convertBoth(maxTensors: 20)
        var options = ConvertOptions()
        options.type = .Q8_0
        _ = try GGUFQuantizer.quantize(input: single, output: path("q-single.gguf"), options: options,
                                       allowRequantize: false)
        _ = try GGUFQuantizer.quantize(input: path("split-00001-of-00003.gguf"), output: path("q-from-set.gguf"),
                                       options: options, allowRequantize: false)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("q-single.gguf"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("q-from-set.gguf"))),
                       "quantizing the set gives the single file's bytes (split keys dropped)")
        options.split = SplitLimits(maxBytes: 1)
        let report = try GGUFQuantizer.quantize(input: single, output: path("q.gguf"), options: options,
                                                allowRequantize: false)
        XCTAssertEqual(report.parts.count, 41, "a limit below every tensor gives one tensor per part")
        XCTAssertNoThrow(try GGUFVerifier.verify(path: report.path))
    }

    func testSizeLimitFollowsGGUFSplitsRule() throws {
        let infos = try [100, 100, 100, 10, 300].enumerated().map { k, n in
            try GGUFTensorInfo(name: "t\(k)", type: .F32, ne: [n])
        }
        // Padded sizes 416, 416, 416, 64, 1216: a part grows while its padded data stays within the limit.
        XCTAssertEqual(try SplitLimits(maxBytes: 900).parts(infos), [0..<2, 2..<4, 4..<5])
        XCTAssertEqual(try SplitLimits(maxBytes: 832).parts(infos), [0..<2, 2..<4, 4..<5])
        XCTAssertEqual(try SplitLimits(maxBytes: 831).parts(infos), [0..<1, 1..<2, 2..<4, 4..<5])
        XCTAssertEqual(try SplitLimits(maxTensors: 2).parts(infos), [0..<2, 2..<4, 4..<5])
        XCTAssertEqual(try SplitLimits(maxTensors: 9).parts(infos), [0..<5])
        XCTAssertThrowsError(try SplitLimits(maxTensors: 0).parts(infos))
    }

    func testMissingForeignAndLaterPartsAreRefused() throws {
        _ = try convertBoth(maxTensors: 11)
        let first = path("split-00001-of-00004.gguf")
        XCTAssertThrowsError(try GGUFSplitSet(path: path("split-00002-of-00004.gguf"))) { error in
            XCTAssertEqual((error as? BloomError)?.code, .ggufSplitSet)
            XCTAssertTrue((error as? BloomError)?.message.contains("part 2 of 4") ?? false)
        }
        // A part of another set (3 parts) put in place of part 3.
        let input = try ConvertInput(folder: try tinyB())
        var options = ConvertOptions()
        options.type = .F32
        options.split = SplitLimits(maxTensors: 20)
        _ = try Converter.convert(input, to: path("other.gguf"), options: options)
        let third = path("split-00003-of-00004.gguf")
        try FileManager.default.moveItem(atPath: third, toPath: path("kept"))
        try FileManager.default.copyItem(atPath: path("other-00003-of-00003.gguf"), toPath: third)
        XCTAssertThrowsError(try GGUFSplitSet(path: first)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .ggufSplitSet)
            XCTAssertEqual((error as? BloomError)?.path, third)
        }
        try FileManager.default.removeItem(atPath: third)
        XCTAssertThrowsError(try GGUFSplitSet(path: first)) { error in
            XCTAssertEqual((error as? BloomError)?.code, .ggufSplitSet)
            XCTAssertEqual((error as? BloomError)?.path, third)
            XCTAssertTrue((error as? BloomError)?.message.contains("part 3 of 4") ?? false)
        }
        XCTAssertThrowsError(try GGUFVerifier.verify(path: first))
        // A first part renamed so its siblings cannot be found by name.
        try FileManager.default.moveItem(atPath: path("kept"), toPath: third)
        try FileManager.default.copyItem(atPath: first, toPath: path("renamed.gguf"))
        XCTAssertThrowsError(try GGUFSplitSet(path: path("renamed.gguf"))) { error in
            XCTAssertEqual((error as? BloomError)?.code, .ggufSplitSet)
        }
        XCTAssertNoThrow(try GGUFSplitSet(path: first))
    }

    /// A part that cannot be written leaves no part of the set behind.
    func testAFailedPartLeavesNoPart() throws {
        try FileManager.default.createDirectory(atPath: path("split-00003-of-00004.gguf"),
                                                withIntermediateDirectories: false)
        XCTAssertThrowsError(try convertBoth(maxTensors: 11))
        let left = try FileManager.default.contentsOfDirectory(atPath: tmp.path).filter { $0.hasPrefix("split") }
        XCTAssertEqual(left, ["split-00003-of-00004.gguf"])
    }
}
