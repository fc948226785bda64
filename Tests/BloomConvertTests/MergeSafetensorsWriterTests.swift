import BloomCheckpoint
import BloomCore
import TestSupport
import XCTest

/// SafetensorsWriter against files the safetensors library wrote (the fixtures), and round trips through our reader.
final class MergeSafetensorsWriterTests: XCTestCase {
    private var scratch: TempDir!
    var folder: String { scratch.path }

    static func contents(_ path: String) throws -> [UInt8] {
        let file = try MappedFile(path: path)
        return withExtendedLifetime(file) { Array(file.bytes) }
    }

    override func setUpWithError() throws { scratch = try TempDir("stwriter") }

    override func tearDown() { scratch = nil }

    /// `safetensors.torch.save_file` output, re-written from its own tensors in its own order, comes out byte for byte
    /// (header JSON, `__metadata__` first, space padding, offsets, data) — in one chunk or in chunks of 7 elements.
    func testReproducesTheLibrarysBytes() throws {
        let path = Fixtures.root + "/expected/merged/alpaca-b.safetensors"
        let original = try SafetensorsFile(path: path)
        let entries = original.tensors.map { SafetensorsWriter.Entry(SourceTensor($0), as: $0.dtype) }
        for chunk in [SafetensorsWriter.defaultChunkElements, 7] {
            let out = folder + "/copy-\(chunk).safetensors"
            let file = try AtomicFile(destination: out)
            try SafetensorsWriter.write(entries, to: file, metadata: original.metadata.map { ($0.key, $0.value) },
                                        chunkElements: chunk)
            try file.commit()
            XCTAssertEqual(try Self.contents(out), try Self.contents(path), "chunk \(chunk)")
        }
    }

    /// Header laid out as the format says, values stored in the dtype asked for and read back by our reader.
    func testHeaderAndDTypesRoundTrip() throws {
        let source = try Checkpoint.open(Fixtures.root + "/models/tiny-a/bin-f32/pytorch_model.bin").tensors
        for dtype in [DType.F32, .F16, .BF16] {
            let out = folder + "/tiny-\(dtype.rawValue).safetensors"
            try SafetensorsWriter.write(source.map { SafetensorsWriter.Entry(SourceTensor($0), as: dtype) },
                                        toPath: out)
            let bytes = try Self.contents(out)
            let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            XCTAssertEqual(n % 8, 0)
            let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
            XCTAssertTrue(header.hasPrefix(#"{"__metadata__":{"format":"pt"},"#), header)
            XCTAssertEqual(header.trimmingCharacters(in: .whitespaces).last, "}")

            let read = try SafetensorsFile(path: out)
            XCTAssertEqual(read.tensors.map(\.name), source.map(\.name))
            for (got, want) in zip(read.tensors, source) {
                XCTAssertEqual(got.dtype, dtype)
                XCTAssertEqual(got.shape, want.shape)
                // Stored = the value rounded once to the dtype (f16 cannot hold every bf16 value exactly).
                let rounded: [Float] = try want.floats().map {
                    switch dtype {
                    case .F16: return Precision.f16ToFloat(Precision.floatToF16($0))
                    case .BF16: return Precision.bf16ToFloat(Precision.floatToBF16($0))
                    default: return $0
                    }
                }
                let mismatches = zip(try got.floats(), rounded).filter { $0.bitPattern != $1.bitPattern }.count
                XCTAssertEqual(mismatches, 0, "\(got.name) as \(dtype.rawValue)")
            }
        }
    }

    func testRefusesDuplicateNamesAndNonFloatDTypes() throws {
        let view = try Checkpoint.open(Fixtures.root + "/models/tiny-a/bin-f32/pytorch_model.bin").tensors[0]
        let entry = SafetensorsWriter.Entry(SourceTensor(view), as: .F32)
        XCTAssertThrowsError(try SafetensorsWriter.header(for: [entry, entry]))
        XCTAssertThrowsError(try SafetensorsWriter.header(for: [SafetensorsWriter.Entry(SourceTensor(view), as: .I64)]))
    }
}
