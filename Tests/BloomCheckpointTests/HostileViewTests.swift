import BloomCheckpoint
import BloomCore
import Foundation
import TestSupport
import XCTest

/// Issue 11: a tiny torch file cannot make the reader allocate past its storage (views that repeat elements are
/// refused), and reading headers only (`inspect`) never inflates a deflated entry.
final class HostileViewTests: XCTestCase {
    var folder: TempDir!
    override func setUpWithError() throws { folder = try TempDir() }
    override func tearDown() { folder = nil }

    func testViewsThatRepeatElementsAreRefusedNotGathered() throws {
        let cases: [(HostileTensor, String)] = [
            // 4 elements viewed with zero strides as 2^20 × 2^20 (4 TiB if gathered).
            (HostileTensor(numel: 4, shape: [1 << 20, 1 << 20], stride: [0, 0]),
             "stride-0 broadcast of a 16-byte storage"),
            (HostileTensor(numel: 4, shape: [4, 4], stride: [1, 0]), "a stride-0 column"),
            (HostileTensor(numel: 4, shape: [3, 2], stride: [1, 1]), "overlapping rows"),
        ]
        for (tensor, what) in cases {
            let path = try folder.write("x.bin", hostileTorchZip(HostilePickle.stateDict([tensor])))
            let error = HostileKit.expect(.torchTensor, file: path, what) { try TorchArchive(path: path) }
            XCTAssertTrue(error?.message.contains("repeats elements") ?? false, "\(what): \(String(describing: error))")
        }
        // A transpose visits each element once: still gathered, bounded by its storage.
        let transpose = HostileTensor(numel: 4, shape: [2, 2], stride: [1, 2])
        let ok = try folder.write("t.bin", hostileTorchZip(HostilePickle.stateDict([transpose])))
        XCTAssertEqual(try TorchArchive(path: ok).tensors[0].byteCount, 16)
    }

    func testHeadersOnlyNeverInflates() throws {
        // A deflated storage whose stream is damaged: inflating it fails, so opening headers-only must not inflate.
        var damaged = HostileZip.Entry.deflated("archive/data/0", [UInt8](repeating: 0, count: 16))
        damaged.crc ^= 1
        let pickle = HostilePickle.stateDict([HostileTensor(), HostileTensor(name: "v", numel: 4, shape: [2, 2],
                                                                            stride: [1, 2])])
        let path = try folder.write("pytorch_model.bin",
                                    HostileZip([.deflated("archive/data.pkl", pickle), damaged]).bytes)
        HostileKit.expect(.zipInflate, file: path, "a full read inflates (and checks) the entry") {
            try Checkpoint.open(path)
        }
        let headers = try Checkpoint.open(path, headersOnly: true)
        XCTAssertEqual(headers.tensors.map(\.name), ["w", "v"])
        XCTAssertEqual(headers.tensors.map(\.byteCount), [16, 16])
        XCTAssertEqual(headers.tensors.map(\.shape), [[2, 2], [2, 2]])
    }

    func testHeadersOnlyOfAHugeDeflatedEntryTakesNoMemory() throws {
        // 1 GiB of zeros claimed by a deflated entry within deflate's ratio; headers-only reserves address space only.
        let size = 1 << 30
        var entry = HostileZip.Entry.deflated("archive/data/0", [UInt8](repeating: 0, count: 16))
        entry.size = UInt32(size)
        entry.data = [UInt8](repeating: 0, count: size / 1000)
        entry.compressedSize = UInt32(entry.data.count)
        let pickle = HostilePickle.stateDict([HostileTensor(numel: size / 4, shape: [size / 4], stride: [1])])
        let path = try folder.write("big.bin", HostileZip([.deflated("archive/data.pkl", pickle), entry]).bytes)
        let before = residentBytes()
        let headers = try Checkpoint.open(path, headersOnly: true)
        XCTAssertEqual(headers.tensors.first?.byteCount, size)
        XCTAssertLessThan(residentBytes() - before, 64 << 20, "headers-only reading grew RSS")
    }

    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
