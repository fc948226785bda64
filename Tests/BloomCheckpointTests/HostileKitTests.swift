import BloomCheckpoint
import BloomCore
import Foundation
import TestSupport
import XCTest

/// Helpers of the hostile-input suites of this target (HostilePickleTests, HostileArchiveTests): an assertion on the
/// error every refused file must give, and byte builders for zip archives and pickles made in the tests (fixture
/// lookup and the scratch folder are TestSupport's `Fixtures` and `TempDir`).
enum HostileKit {
    /// Asserts that `body` fails with a `BloomError` of `code` whose line names `file` (when given), says where
    /// (when `located`), and is one line. Returns the error.
    @discardableResult
    static func expect<T>(_ code: BloomError.Code, file path: String? = nil, located: Bool = true,
                          _ what: String = "", line: UInt = #line, _ body: () throws -> T) -> BloomError? {
        guard let error = assertBloomError(code, what, line: line, body) else { return nil }
        XCTAssertFalse(error.description.contains(where: \.isNewline), "\(what): not one line: \(error.description)",
                       line: line)
        if let path {
            XCTAssertEqual(error.path, path, "\(what): the error does not name the file: \(error.description)",
                           line: line)
        }
        if located {
            XCTAssertNotNil(error.location, "\(what): the error does not say where: \(error.description)", line: line)
        }
        return error
    }
}

// MARK: zip archives

/// A zip archive laid out as torch.save writes it, every field overridable so a test can make it lie.
struct HostileZip {
    struct Entry {
        var name: String
        var data: [UInt8]
        /// 0 stored, 8 deflated (then `data` is the deflate stream and `size` the inflated size).
        var method: UInt16 = 0
        var flags: UInt16 = 0
        var crc: UInt32 = 0
        var size: UInt32? = nil
        var compressedSize: UInt32? = nil
        var disk: UInt16 = 0
        var localSignature: UInt32 = 0x04034b50
        var localOffsetOverride: UInt32? = nil

        init(_ name: String, _ data: [UInt8]) {
            self.name = name
            self.data = data
        }

        /// A deflated entry holding `plain` (as one stored deflate block), with its real CRC.
        static func deflated(_ name: String, _ plain: [UInt8]) -> Entry {
            var e = Entry(name, ZipBuilder.deflateStored(plain))
            e.method = 8
            e.crc = ZipBuilder.crc32(plain)
            e.size = UInt32(plain.count)
            return e
        }
    }

    var entries: [Entry]
    var eocdDisk: UInt16 = 0
    var entryCountOverride: UInt16? = nil
    var cdOffsetOverride: UInt32? = nil
    var cdSizeOverride: UInt32? = nil
    /// A ZIP64 locator before the end record pointing at this offset (nothing valid there).
    var zip64LocatorOffset: UInt64? = nil

    init(_ entries: [Entry]) { self.entries = entries }

    var bytes: [UInt8] {
        var out: [UInt8] = []
        var offsets: [UInt32] = []
        for e in entries {
            offsets.append(UInt32(out.count))
            out.le(e.localSignature)
            out.le(UInt16(20)); out.le(e.flags); out.le(e.method)
            out.le(UInt32(0))  // time, date
            out.le(UInt32(0)); out.le(UInt32(0)); out.le(UInt32(0))  // torch: CRC and sizes 0
            out.le(UInt16(e.name.utf8.count)); out.le(UInt16(0))
            out += Array(e.name.utf8)
            out += e.data
        }
        let cdStart = UInt32(out.count)
        for (e, offset) in zip(entries, offsets) {
            out.le(UInt32(0x02014b50))
            out.le(UInt16(20)); out.le(UInt16(20)); out.le(e.flags); out.le(e.method)
            out.le(UInt32(0))
            out.le(e.crc)
            out.le(e.compressedSize ?? UInt32(e.data.count))
            out.le(e.size ?? UInt32(e.data.count))
            out.le(UInt16(e.name.utf8.count)); out.le(UInt16(0)); out.le(UInt16(0))
            out.le(e.disk)
            out.le(UInt16(0)); out.le(UInt32(0))
            out.le(e.localOffsetOverride ?? offset)
            out += Array(e.name.utf8)
        }
        let cdSize = UInt32(out.count) - cdStart
        if let target = zip64LocatorOffset {
            out.le(UInt32(0x07064b50)); out.le(UInt32(0)); out.le(target); out.le(UInt32(1))
        }
        out.le(UInt32(0x06054b50))
        out.le(eocdDisk); out.le(UInt16(0))
        out.le(entryCountOverride ?? UInt16(entries.count)); out.le(entryCountOverride ?? UInt16(entries.count))
        out.le(cdSizeOverride ?? cdSize); out.le(cdOffsetOverride ?? cdStart)
        out.le(UInt16(0))
        return out
    }
}

// MARK: pickles

/// Protocol-2 pickle opcodes, written one by one.
struct HostilePickle: PickleOpcodes {
    var bytes: [UInt8] = [0x80, 0x02]

    /// BININT, or LONG1 of 8 bytes when `v` does not fit 32 bits.
    mutating func int(_ v: Int) {
        if let small = Int32(exactly: v) {
            bytes.append(0x4A); bytes.le(small)
        } else {
            bytes += [0x8A, 8]; bytes.le(Int64(v))
        }
    }
    mutating func tuple() { op(0x74) }
    mutating func emptyTuple() { op(0x29) }
    mutating func emptyDict() { op(0x7D) }
    mutating func setItem() { op(0x73) }
    mutating func reduce() { op(0x52) }
    mutating func stop() { op(0x2E) }
    mutating func orderedDict() { global("collections", "OrderedDict"); emptyTuple(); reduce() }
    mutating func ints(_ values: [Int]) { mark(); for v in values { int(v) }; tuple() }

    /// One `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()[, metadata])` record.
    mutating func tensor(_ t: HostileTensor) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark(); string("storage"); global("torch", t.storageClass); string(t.key); string("cpu")
        int(t.numel)
        tuple(); op(0x51)  // BINPERSID
        int(t.offset)
        ints(t.shape)
        ints(t.stride)
        op(0x89)  // NEWFALSE
        orderedDict()
        if t.hooks { string("hook"); op(0x4E); setItem() }
        if let metadata = t.metadata { emptyDict(); string(metadata); op(0x88); setItem() }
        tuple()
        reduce()
    }

    /// `{name: tensor, …}` as torch.save pickles a state dict (an OrderedDict), then STOP.
    static func stateDict(_ tensors: [HostileTensor]) -> [UInt8] {
        var p = HostilePickle()
        p.orderedDict()
        for t in tensors {
            p.string(t.name)
            p.tensor(t)
            p.setItem()
        }
        p.stop()
        return p.bytes
    }
}

/// A tensor record of a pickle made in a test: every field can lie.
struct HostileTensor {
    var name = "w"
    var storageClass = "FloatStorage"
    var key = "0"
    var numel = 4
    var offset = 0
    var shape = [2, 2]
    var stride = [2, 1]
    var hooks = false
    var metadata: String? = nil
}

/// A torch zip (`archive/…`) holding `pickle` as data.pkl and `storages` (key → byte count) as data/<key>.
func hostileTorchZip(_ pickle: [UInt8], storages: [(String, Int)] = [("0", 16)],
                     byteorder: String? = "little") -> [UInt8] {
    var entries = [HostileZip.Entry("archive/data.pkl", pickle)]
    if let byteorder { entries.append(.init("archive/byteorder", Array(byteorder.utf8))) }
    for (key, count) in storages {
        entries.append(.init("archive/data/\(key)", (0..<count).map { UInt8(truncatingIfNeeded: $0) }))
    }
    entries.append(.init("archive/version", Array("3\n".utf8)))
    return HostileZip(entries).bytes
}

/// The builders above make files the readers accept when nothing lies (otherwise every refusal would prove nothing).
final class HostileKitTests: XCTestCase {
    func testTheBuildersMakeValidFiles() throws {
        let folder = try TempDir()
        let pickle = HostilePickle.stateDict([
            HostileTensor(name: "w"),
            HostileTensor(name: "t", key: "1", numel: 6, shape: [3, 2], stride: [1, 3]),
        ])
        let path = try folder.write("ok.bin", hostileTorchZip(pickle, storages: [("0", 16), ("1", 24)]))
        let archive = try TorchArchive(path: path)
        XCTAssertEqual(archive.tensors.map(\.name), ["w", "t"])
        XCTAssertEqual(archive.tensors[1].shape, [3, 2])

        var entries = [HostileZip.Entry.deflated("archive/data.pkl", HostilePickle.stateDict([HostileTensor()]))]
        entries.append(.deflated("archive/data/0", [UInt8](repeating: 0, count: 16)))
        let deflated = try folder.write("deflated.bin", HostileZip(entries).bytes)
        XCTAssertEqual(try TorchArchive(path: deflated).tensors.first?.shape, [2, 2])
    }
}
