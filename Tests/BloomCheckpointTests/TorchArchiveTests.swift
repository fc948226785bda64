import BloomCore
import Foundation
import TestSupport
import XCTest
@testable import BloomCheckpoint

final class TorchArchiveTests: XCTestCase {
    /// One storage of 12 floats (0…11) seen as: the whole [3, 4] matrix, its transpose (strides (1, 4)), a slice at
    /// offset 5, a [2] column view with stride 4, and an empty tensor; plus a second storage of halfs.
    private let storage = (0..<12).map(Float.init)
    private var tensors: [PickleWriter.Tensor] {
        [PickleWriter.Tensor(name: "matrix", key: "0", numel: 12, size: [3, 4], stride: [4, 1]),
         PickleWriter.Tensor(name: "transposed", key: "0", numel: 12, size: [4, 3], stride: [1, 4]),
         PickleWriter.Tensor(name: "slice", key: "0", numel: 12, offset: 5, size: [2], stride: [1]),
         PickleWriter.Tensor(name: "column", key: "0", numel: 12, offset: 1, size: [2, 1], stride: [4, 7]),
         PickleWriter.Tensor(name: "empty", key: "0", numel: 12, size: [0, 4], stride: [4, 1]),
         PickleWriter.Tensor(name: "half", storageClass: "HalfStorage", key: "1", numel: 2, size: [2], stride: [1])]
    }
    private let halfBytes: [UInt8] = [0x00, 0x3C, 0x00, 0xC0]  // f16 1.0, -2.0 as torch stores them

    private func read(_ bytes: [UInt8]) throws -> TorchArchive {
        let dir = try TempDir()
        return try TorchArchive(path: try dir.write("m.bin", bytes))
    }

    private func checkValues(_ archive: TorchArchive, inPlace: Bool, file: StaticString = #filePath,
                             line: UInt = #line) throws {
        let byName = Dictionary(uniqueKeysWithValues: archive.tensors.map { ($0.name, $0) })
        XCTAssertEqual(archive.tensors.map(\.name), tensors.map(\.name), file: file, line: line)
        XCTAssertEqual(try byName["matrix"]?.floats(), storage, file: file, line: line)
        // transposed[i][j] = storage[i + 4j]
        XCTAssertEqual(try byName["transposed"]?.floats(),
                       (0..<4).flatMap { i in (0..<3).map { j in storage[i + 4 * j] } },
                       file: file, line: line)
        XCTAssertEqual(try byName["slice"]?.floats(), Array(storage[5..<7]), file: file, line: line)
        XCTAssertEqual(try byName["column"]?.floats(), [storage[1], storage[5]], file: file, line: line)
        XCTAssertEqual(byName["empty"]?.byteCount, 0, file: file, line: line)
        XCTAssertEqual(byName["half"]?.dtype, .F16, file: file, line: line)
        XCTAssertEqual(try byName["half"]?.floats(), [Precision.f16ToFloat(0x3C00), Precision.f16ToFloat(0xC000)],
                       file: file, line: line)
        let matrix = try XCTUnwrap(byName["matrix"]), slice = try XCTUnwrap(byName["slice"])
        XCTAssertEqual(slice.fileOffset, matrix.fileOffset + (inPlace ? 5 * 4 : 0), file: file, line: line)
        XCTAssertEqual(matrix.fileOffset % 64, 0, "torch aligns data to 64 bytes", file: file, line: line)
        if inPlace {
            XCTAssertTrue(matrix.storage === slice.storage, "stored entries are views of one mapping", file: file,
                          line: line)
            XCTAssertEqual(Array(archive.mapped.bytes[matrix.fileOffset..<(matrix.fileOffset + 48)]), f32Bytes(storage),
                           file: file, line: line)
        }
    }

    func testStridesOffsetsAndSharedStorages() throws {
        let bytes = torchArchive(pickle: PickleWriter.stateDict(tensors),
                                 storages: [("0", f32Bytes(storage)), ("1", halfBytes)])
        let archive = try read(bytes)
        XCTAssertEqual(archive.prefix, "archive")
        try checkValues(archive, inPlace: true)
    }

    func testDeflatedEntriesAreInflated() throws {
        let bytes = torchArchive(pickle: PickleWriter.stateDict(tensors),
                                 storages: [("0", f32Bytes(storage)), ("1", halfBytes)],
                                 deflate: true)
        try checkValues(try read(bytes), inPlace: false)
    }

    func testZip64RecordsAndExtraFields() throws {
        let bytes = torchArchive(prefix: "my model.v2", pickle: PickleWriter.stateDict(tensors),
                                 storages: [("0", f32Bytes(storage)), ("1", halfBytes)], zip64: true)
        let archive = try read(bytes)
        XCTAssertEqual(archive.prefix, "my model.v2", "the prefix comes from the first entry")
        try checkValues(archive, inPlace: true)
    }

    func testDuplicateEntryNamesAreRefused() throws {
        var zip = ZipBuilder()
        zip.add("archive/data.pkl", PickleWriter.stateDict([tensors[0]]))
        zip.add("archive/data/0", f32Bytes(storage))
        zip.add("archive/data.pkl", [0x80, 2, 0x7D, 0x2E])
        assertBloomError(.zipFormat) { try read(zip.build()) }
    }

    func testDamagedDeflateAndLyingSizesAreRefused() throws {
        var zip = ZipBuilder()
        zip.add("archive/data.pkl", PickleWriter.stateDict([tensors[0]]), deflate: true)
        zip.add("archive/data/0", f32Bytes(storage), deflate: true)
        var bytes = zip.build()
        // Flip a byte of the storage payload: the CRC no longer matches.
        let payload = try XCTUnwrap(bytes.firstRange(of: f32Bytes(storage)))
        bytes[payload.lowerBound + 9] ^= 0xFF
        assertBloomError(.zipInflate) { try read(bytes) }
    }

    func testFixtureArchives() throws {
        let archive = try TorchArchive(path: try Fixtures.path("adapters/lora-2023-a/adapter_model.bin"))
        XCTAssertEqual(archive.prefix, "adapter_model")
        XCTAssertEqual(archive.tensors.map(\.shape), [[32, 64], [128, 16, 1], [32, 64], [128, 16, 1]])
        XCTAssertTrue(archive.tensors.allSatisfy { $0.dtype == .F32 && $0.fileOffset % 64 == 0 })
        let model = try TorchArchive(path: try Fixtures.path("models/tiny-a/bin-f32/pytorch_model.bin"))
        XCTAssertEqual(model.prefix, "pytorch_model")
        XCTAssertEqual(model.tensors.first?.name, "word_embeddings.weight")
    }

    /// Cutting a real archive anywhere gives a BloomError, never a crash; so does flipping any byte of its headers.
    func testTruncatedAndCorruptedArchivesFailCleanly() throws {
        let original = Array(try Data(contentsOf: URL(
            fileURLWithPath: try Fixtures.path("adapters/lora-2023-a/adapter_model.bin"))))
        let dir = try TempDir()
        let path = try dir.write("damaged.bin", original)
        // Shorter and shorter (truncate(2) in place: rewriting the file each time would dominate the test's time).
        for length in stride(from: original.count - 1, through: 0, by: -max(1, original.count / 97)) {
            XCTAssertEqual(truncate(path, off_t(length)), 0)
            XCTAssertThrowsError(try Checkpoint.open(path), "cut at \(length)") { XCTAssertTrue($0 is BloomError,
                                                                                                "\($0)") }
        }
        // The pickle (the first 800 bytes) and the central directory (the last 900): every byte, flipped in place.
        try dir.write("damaged.bin", original)
        let fd = open(path, O_WRONLY)
        defer { close(fd) }
        let positions = Array(0..<min(800, original.count)) + Array(max(0, original.count - 900)..<original.count)
        for position in positions {
            var flipped = original[position] ^ 0x5A, restored = original[position]
            XCTAssertEqual(pwrite(fd, &flipped, 1, off_t(position)), 1)
            do { _ = try Checkpoint.open(path) } catch { XCTAssertTrue(error is BloomError,
                                                                       "flip at \(position): \(error)") }
            XCTAssertEqual(pwrite(fd, &restored, 1, off_t(position)), 1)
        }
    }

    func testInconsistentTensorsAreRefused() throws {
        func archive(_ t: PickleWriter.Tensor, data: [UInt8]) -> [UInt8] {
            torchArchive(pickle: PickleWriter.stateDict([t]), storages: [(t.key, data)])
        }
        let data = f32Bytes(storage)
        assertBloomError(.torchTensor, "extent past the storage") {
            try read(archive(.init(name: "x", key: "0", numel: 12, offset: 10, size: [3], stride: [1]), data: data))
        }
        assertBloomError(.torchTensor, "numel disagrees with the record") {
            try read(archive(.init(name: "x", key: "0", numel: 13, size: [3], stride: [1]), data: data))
        }
        assertBloomError(.torchMissingRecord, "storage record absent") {
            try read(torchArchive(pickle: PickleWriter.stateDict([.init(name: "x", key: "7", numel: 12, size: [3],
                                                                        stride: [1])]),
                                  storages: []))
        }
        assertBloomError(.pickleMalformed, "storage key leaving the archive folder") {
            try read(archive(.init(name: "x", key: "../0", numel: 12, size: [3], stride: [1]), data: data))
        }
        assertBloomError(.pickleForbiddenGlobal, "a storage class outside the list") {
            try read(archive(.init(name: "x", storageClass: "QInt8Storage", key: "0", numel: 12, size: [3],
                                   stride: [1]), data: data))
        }
        assertBloomError(.unsupported, "big-endian files") {
            try read(torchArchive(pickle: PickleWriter.stateDict([.init(name: "x", key: "0", numel: 12, size: [3],
                                                                        stride: [1])]),
                                  storages: [("0", data)], byteorder: "big"))
        }
        assertBloomError(.torchLegacyFormat, "pre-1.6 files") {
            let dir = try TempDir()
            return try Checkpoint.open(try dir.write("old.bin", [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9,
                                                                 0x20, 0x6A, 0xA8, 0x50, 0x19]))
        }
    }
}
