import BloomCore
import BloomConvert
import BloomGGUF
@testable import BloomPack
import XCTest

/// unpack(pack(x)) == x on every fixture layout, and `verify` catches any flipped byte.
final class PackRoundTripTests: XCTestCase {
    private func roundTrip(_ input: String, expectFolder: Bool, shrinks: Bool = true, file: StaticString = #filePath,
                           line: UInt = #line) throws -> PackSummary {
        let tmp = try PackFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let bkz = tmp + "/x.bkz", out = tmp + "/out"
        let summary = try Packer.pack(input: input, output: bkz, options: PackFixtures.options)
        let archive = try BKZArchive(path: bkz)
        XCTAssertEqual(archive.index.isFolder, expectFolder, file: file, line: line)
        _ = try archive.verify(threads: 2)
        _ = try archive.unpack(to: out, threads: 3)
        if expectFolder {
            XCTAssertEqual(try PackFixtures.tree(out), try PackFixtures.tree(input), "\(input)", file: file, line: line)
        } else {
            XCTAssertEqual(try PackFixtures.bytes(out), try PackFixtures.bytes(input), "\(input)", file: file,
                           line: line)
        }
        if shrinks { XCTAssertLessThan(summary.outputBytes, summary.inputBytes, file: file, line: line) }
        return summary
    }

    func testEveryFixtureFolderRoundTrips() throws {
        let root = try PackFixtures.root()
        let folders = ["models/tiny-a/st-bf16-sharded", "models/tiny-a/bin-f32", "models/tiny-b/st-f16",
                       "models/tiny-b/bin-f32-lmhead", "adapters/alpaca-b", "adapters/lora-2023-a",
                       "adapters/rslora-a", "adapters/lora-bin-a", "tokenizer"]
        for f in folders {
            _ = try roundTrip(root + "/" + f, expectFolder: true)
        }
    }

    func testSingleFilesRoundTripWithTheirTensorCodecs() throws {
        let root = try PackFixtures.root()
        let st = try roundTrip(root + "/models/tiny-b/st-f16/model.safetensors", expectFolder: false)
        XCTAssertGreaterThan(st.kinds["f16"]?.tensors ?? 0, 0)
        let bf16 = try roundTrip(root + "/models/tiny-a/st-bf16-sharded/model-00001-of-00003.safetensors",
                                 expectFolder: false)
        XCTAssertGreaterThan(bf16.kinds["bf16"]?.tensors ?? 0, 0)
        _ = try roundTrip(root + "/models/tiny-a/bin-f32/pytorch_model.bin", expectFolder: false)
    }

    /// The summary's ratio per kind of tensor in the model, from Hugging Face and from GGUF names alike: tiny-b
    /// (hidden 96, 3 layers, tied head) has 3 fused QKV weights of 3·96 × 96 F16 values, one embedding, no head; an
    /// adapter's tensors are no BLOOM kind ("other"); headers and JSON files count under no tensor kind.
    func testSummaryCountsEveryKindOfTensor() throws {
        let root = try PackFixtures.root()
        let folder = try roundTrip(root + "/models/tiny-b/st-f16", expectFolder: true)
        let qkv = try XCTUnwrap(folder.tensorKinds["attn_qkv"])
        XCTAssertEqual(qkv.tensors, 3)
        XCTAssertEqual(qkv.rawBytes, 3 * (3 * 96 * 96) * 2)
        XCTAssertGreaterThan(qkv.ratio, 1.3)
        XCTAssertEqual(folder.tensorKinds["attn_qkv.bias"]?.tensors, 3)
        XCTAssertEqual(folder.tensorKinds["token_embd"]?.tensors, 1)
        XCTAssertNil(folder.tensorKinds["output"], "tiny-b ties its head")
        XCTAssertNil(folder.tensorKinds["other"])
        XCTAssertEqual(folder.tensorKinds.values.reduce(0) { $0 + $1.tensors }, folder.tensors)
        XCTAssertEqual(folder.tensorKinds.values.reduce(0) { $0 + $1.rawBytes },
                       folder.kinds.filter { $0.key != "other" }.values.reduce(0) { $0 + $1.rawBytes })

        let tmp = try PackFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        var options = ConvertOptions()
        options.type = try FileType.named("q8_0")
        options.separateOutput = true
        options.quiet = true
        let gguf = tmp + "/m.gguf"
        _ = try Converter.convert(try ConvertInput(folder: root + "/models/tiny-b/st-f16"), to: gguf, options: options)
        let file = try roundTrip(gguf, expectFolder: false)
        XCTAssertEqual(Set(file.tensorKinds.keys), Set(folder.tensorKinds.keys).union(["output"]))
        XCTAssertEqual(file.tensorKinds["attn_qkv"]?.tensors, 3)

        let adapter = try roundTrip(root + "/adapters/alpaca-b", expectFolder: true)
        XCTAssertEqual(Array(adapter.tensorKinds.keys), ["other"])
        XCTAssertEqual(adapter.tensorKinds["other"]?.tensors, adapter.tensors)
    }

    /// GGUF files made here by the converter: F16 with a separate output head (a duplicate of the embeddings),
    /// Q8_0 and Q4_0 (block codecs).
    func testGGUFFilesRoundTripWithBlockCodecsAndDuplicates() throws {
        let root = try PackFixtures.root()
        let tmp = try PackFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        for kind in ["f16", "q8_0", "q4_0", "q4_1"] {
            var options = ConvertOptions()
            options.type = try FileType.named(kind)
            options.overrides.pure = true  // every weight `type`, the head and token_embd included
            options.separateOutput = true
            options.quiet = true
            let gguf = tmp + "/m-\(kind).gguf"
            let input = try ConvertInput(folder: root + "/models/tiny-b/st-f16")
            _ = try Converter.convert(input, to: gguf, options: options)
            let s = try roundTrip(gguf, expectFolder: false)
            XCTAssertGreaterThan(s.kinds[kind]?.tensors ?? 0, 0, kind)
            XCTAssertGreaterThanOrEqual(s.duplicates, 1, "output.weight repeats token_embd.weight (\(kind))")
        }
    }

    /// K-quant GGUF files of the 256-wide fixture (whole super-blocks): every K tensor is stored field by field
    /// (codec 6) and comes back byte for byte.
    func testKQuantGGUFFilesRoundTripFieldByField() throws {
        let root = try PackFixtures.root()
        let tmp = try PackFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        for (kind, types) in [("q2_k", ["q2_k"]), ("q3_k_m", ["q3_k"]), ("q4_k_m", ["q4_k", "q6_k"]),
                              ("q5_k_m", ["q5_k", "q6_k"]), ("q6_k", ["q6_k"])] {
            var options = ConvertOptions()
            options.type = try FileType.named(kind)
            options.quiet = true
            let gguf = tmp + "/w-\(kind).gguf"
            _ = try Converter.convert(try ConvertInput(folder: root + "/models/wide/st-f16"), to: gguf,
                                      options: options)
            let s = try roundTrip(gguf, expectFolder: false, shrinks: false)
            let bkz = tmp + "/again.bkz"
            _ = try Packer.pack(input: gguf, output: bkz, options: PackFixtures.options)
            let segments = try BKZArchive(path: bkz).index.segments
            try FileManager.default.removeItem(atPath: bkz)
            for t in types {
                XCTAssertGreaterThan(s.kinds[t]?.tensors ?? 0, 0, "\(kind): no \(t) tensor")
                let fields = segments.filter { $0.codec.description == "fields-\(t)" }
                XCTAssertGreaterThan(fields.count, 0, "\(kind): no \(t) segment stored field by field")
            }
        }
    }

    /// The K-quant field planes: split and join are exact inverses, and each plane holds what Formats/bkz.md says
    /// (an f16 field's low bytes, then its high bytes; another field's bytes block after block).
    func testFieldPlanesFollowTheLayout() {
        var rng = SystemRandomNumberGenerator()
        for type in 10...14 {
            guard let layout = BKZFieldLayout.of(type: type) else { return XCTFail("no layout for \(type)") }
            XCTAssertEqual(layout.fields.reduce(0) { $0 + $1.length }, layout.blockBytes, layout.name)
            let n = 37, b = layout.blockBytes
            let src = (0..<(n * b)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var planes = [UInt8](repeating: 0, count: src.count), back = planes
            src.withUnsafeBytes { s in
                planes.withUnsafeMutableBytes { BytePlanes.split(.fields(type: type), s, $0) }
            }
            planes.withUnsafeBytes { p in back.withUnsafeMutableBytes { BytePlanes.join(.fields(type: type), p, $0) } }
            XCTAssertEqual(back, src, layout.name)
            var at = 0
            for f in layout.fields {
                if f.half {
                    XCTAssertEqual(Array(planes[at..<(at + n)]), (0..<n).map { src[$0 * b + f.offset] }, layout.name)
                    XCTAssertEqual(Array(planes[(at + n)..<(at + 2 * n)]), (0..<n).map { src[$0 * b + f.offset + 1] },
                                   layout.name)
                    at += 2 * n
                } else {
                    let expected = (0..<n).flatMap { src[($0 * b + f.offset)..<($0 * b + f.offset + f.length)] }
                    XCTAssertEqual(Array(planes[at..<(at + n * f.length)]), expected, layout.name)
                    at += n * f.length
                }
            }
            XCTAssertEqual(BytePlanes.planeLengths(.fields(type: type), rawLength: src.count).reduce(0, +), src.count)
        }
    }

    /// Empty files, nested folders, a broken `.safetensors` (stored as plain zstd), odd-length float data.
    func testEdgeCasesRoundTrip() throws {
        let tmp = try PackFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let input = tmp + "/in"
        try FileManager.default.createDirectory(atPath: input + "/sub/deeper", withIntermediateDirectories: true)
        try PackFixtures.write([], input + "/empty")
        try PackFixtures.write(Array("{\"a\": 1}".utf8), input + "/sub/deeper/config.json")
        try PackFixtures.write([8, 0, 0, 0, 0, 0, 0, 0] + Array("{\"x\":{}".utf8), input + "/broken.safetensors")
        let summary = try roundTrip(input, expectFolder: true, shrinks: false)
        XCTAssertEqual(summary.files, 3)
        XCTAssertEqual(summary.tensors, 0)
    }

    /// Every header byte and a spread of data and index bytes: a flip makes `verify` (or opening) fail.
    func testAFlippedByteAnywhereIsCaught() throws {
        let root = try PackFixtures.root()
        let tmp = try PackFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let bkz = tmp + "/a.bkz"
        _ = try Packer.pack(input: root + "/adapters/alpaca-b", output: bkz, options: PackFixtures.options)
        let original = try PackFixtures.bytes(bkz)
        var positions = Array(0..<BKZFormat.headerSize)
        positions += stride(from: BKZFormat.headerSize, to: original.count, by: max(1, original.count / 300))
        positions.append(original.count - 1)
        var missed: [Int] = []
        for p in positions {
            var bytes = original
            bytes[p] ^= 0x10
            let path = tmp + "/flip.bkz"
            try PackFixtures.write(bytes, path)
            do {
                _ = try BKZArchive(path: path).verify(threads: 2)
                missed.append(p)
            } catch let e as BloomError {
                XCTAssertTrue(e.code.rawValue.hasPrefix("bkz-") || e.code == .truncated || e.code == .overflow
                              || e.code == .limitExceeded || e.code == .invalidArgument, "\(p): \(e)")
                XCTAssertFalse(e.description.contains("\n"))
            }
        }
        XCTAssertEqual(missed, [], "flips not caught at these offsets")
    }

    /// The frames tile the data region exactly and the planes are exact inverses on every bit pattern.
    func testPlanesAreExactInversesOnEveryHalfPattern() {
        for codec in [BKZCodec.f16, .bf16] {
            var src = [UInt16](0...UInt16.max).map { $0.littleEndian }
            var planes = [UInt8](repeating: 0, count: src.count * 2)
            var back = [UInt8](repeating: 0, count: src.count * 2)
            src.withUnsafeMutableBytes { s in
                planes.withUnsafeMutableBytes { p in
                    BytePlanes.split(codec, UnsafeRawBufferPointer(s), p)
                    back.withUnsafeMutableBytes { BytePlanes.join(codec, UnsafeRawBufferPointer(p), $0) }
                }
            }
            XCTAssertEqual(back, src.withUnsafeBytes { Array($0) }, "\(codec)")
        }
    }
}
