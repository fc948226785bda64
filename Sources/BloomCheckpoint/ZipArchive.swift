// The zip subset torch.save writes (PKWARE APPNOTE 6.3; caffe2 inline_container.cc), read from the central directory:
//   end of central directory (EOCD, 22 bytes + comment ≤ 65535) at the end of the file:
//     sig 0x06054b50, disk u16, cd disk u16, entries on disk u16, entries u16, cd size u32, cd offset u32, comment len u16
//   ZIP64 (archives > 4 GiB, > 65535 entries): a locator (sig 0x07064b50, 20 bytes) right before the EOCD points at the
//     zip64 EOCD record (sig 0x06064b50): size u64, made/needed u16×2, disks u32×2, entries u64×2, cd size u64, cd offset u64
//   central directory entry (sig 0x02014b50, 46 bytes + name + extra + comment): method @10, crc @16, sizes @20/@24,
//     name len @28, extra len @30, comment len @32, disk @34, local header offset @42; zip64 extra field (id 0x0001)
//     holds, in order, only the values whose 32-bit field is 0xFFFFFFFF: uncompressed, compressed, local offset.
//   local header (sig 0x04034b50, 30 bytes + name + extra): torch writes CRC and sizes as 0 (a data descriptor follows
//     the data) and pads the extra field ("FB" + 'Z's) so data is 64-byte aligned. So sizes come from the central
//     directory and the data offset from the local header: offset + 30 + name len + extra len.
import BloomCore
import CZlib

/// A read-only zip archive over a mapped file: entries from the central directory, stored data in place.
struct ZipArchive {
    struct Entry {
        let name: String
        /// 0 stored, 8 deflated.
        let method: UInt16
        let flags: UInt16
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
    }

    /// Deflate cannot expand data more than about 1032:1; a larger declared ratio is a lie (a zip bomb).
    static let maxDeflateRatio = 1032

    /// An entry's bytes: a window of the mapping (stored) or a heap buffer (inflated).
    struct Contents {
        let storage: ByteStorage
        let range: Range<Int>
        /// The entry's data offset in the file.
        let fileOffset: Int
        /// Whether `range` indexes the file itself (stored entries).
        let inPlace: Bool
    }

    let file: MappedFile
    /// The whole mapping, shared by every stored entry's views.
    private let mappedStorage: ByteStorage
    /// In central-directory order.
    let entries: [Entry]

    init(file: MappedFile) throws {
        self.file = file
        mappedStorage = ByteStorage(mapped: file)
        do {
            entries = try Self.readCentralDirectory(file)
        } catch let error as BloomError {
            throw error.at(path: file.path)
        }
    }

    // MARK: central directory

    private static func readCentralDirectory(_ file: MappedFile) throws -> [Entry] {
        let eocd = try findEndRecord(file)
        var r = ByteReader(file.bytes, offset: eocd + 4)
        let disk = try r.read(UInt16.self, "EOCD disk number")
        let cdDisk = try r.read(UInt16.self, "EOCD central directory disk")
        _ = try r.read(UInt16.self, "EOCD entries on this disk")
        var entryCount = UInt64(try r.read(UInt16.self, "EOCD entry count"))
        var cdSize = UInt64(try r.read(UInt32.self, "EOCD central directory size"))
        var cdOffset = UInt64(try r.read(UInt32.self, "EOCD central directory offset"))
        guard disk == 0, cdDisk == 0 else {
            throw BloomError(.zipUnsupported, "multi-disk archives are not supported", location: "offset \(eocd)")
        }

        // A zip64 locator sits right before the EOCD when the archive needed one.
        if eocd >= 20, file.bytes.loadUnaligned(fromByteOffset: eocd - 20, as: UInt32.self) == UInt32(0x07064b50).littleEndian {
            var loc = ByteReader(file.bytes, offset: eocd - 16)
            _ = try loc.read(UInt32.self, "zip64 locator disk")
            let recordOffset = try Checked.int(try loc.read(UInt64.self, "zip64 EOCD offset"), "zip64 EOCD offset")
            guard recordOffset <= eocd - 20 else {
                throw BloomError(.zipFormat, "zip64 end record offset \(recordOffset) is past its locator at \(eocd - 20)",
                                 location: "offset \(eocd - 20)")
            }
            var z = ByteReader(file.bytes, offset: recordOffset)
            guard try z.read(UInt32.self, "zip64 EOCD signature") == 0x06064b50 else {
                throw BloomError(.zipFormat, "no zip64 end record signature", location: "offset \(recordOffset)")
            }
            try z.skip(8 + 2 + 2, "zip64 EOCD header")
            let disk64 = try z.read(UInt32.self, "zip64 disk number")
            let cdDisk64 = try z.read(UInt32.self, "zip64 central directory disk")
            guard disk64 == 0, cdDisk64 == 0 else {
                throw BloomError(.zipUnsupported, "multi-disk archives are not supported", location: "offset \(recordOffset)")
            }
            _ = try z.read(UInt64.self, "zip64 entries on this disk")
            entryCount = try z.read(UInt64.self, "zip64 entry count")
            cdSize = try z.read(UInt64.self, "zip64 central directory size")
            cdOffset = try z.read(UInt64.self, "zip64 central directory offset")
        }

        let start = try Checked.int(cdOffset, "central directory offset")
        let size = try Checked.int(cdSize, "central directory size")
        guard start <= eocd, size <= eocd - start else {
            throw BloomError(.zipFormat, "central directory [\(start), \(start &+ size)) runs past its end record at \(eocd)",
                             location: "offset \(eocd)")
        }
        // Every entry takes at least 46 bytes, so the count is bounded by the directory's size.
        guard entryCount <= UInt64(size / 46) else {
            throw BloomError(.zipFormat, "\(entryCount) entries cannot fit in a central directory of \(size) bytes",
                             location: "offset \(eocd)")
        }
        var cd = ByteReader(try file.slice(offset: start, length: size, what: "central directory"), baseOffset: start)
        var entries: [Entry] = []
        entries.reserveCapacity(Int(entryCount))
        for _ in 0..<Int(entryCount) {
            entries.append(try readEntry(&cd, fileSize: file.count))
        }
        return entries
    }

    /// The last EOCD signature whose comment length reaches exactly to the end of the file.
    private static func findEndRecord(_ file: MappedFile) throws -> Int {
        let bytes = file.bytes
        guard bytes.count >= 22 else {
            throw BloomError(.zipFormat, "file is \(bytes.count) bytes, too short for a zip end record", location: "offset 0")
        }
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        var p = bytes.count - 22
        while p >= lowest {
            if bytes[p] == 0x50, bytes[p + 1] == 0x4B, bytes[p + 2] == 0x05, bytes[p + 3] == 0x06 {
                let comment = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: p + 20, as: UInt16.self)))
                if p + 22 + comment == bytes.count { return p }
            }
            p -= 1
        }
        throw BloomError(.zipFormat, "no zip end-of-central-directory record (truncated or not a zip archive)",
                         location: "offset \(bytes.count)")
    }

    private static func readEntry(_ cd: inout ByteReader, fileSize: Int) throws -> Entry {
        let at = cd.baseOffset + cd.offset
        guard try cd.read(UInt32.self, "central directory entry signature") == 0x02014b50 else {
            throw BloomError(.zipFormat, "bad central directory entry signature", location: "offset \(at)")
        }
        try cd.skip(4, "versions")
        let flags = try cd.read(UInt16.self, "flags")
        let method = try cd.read(UInt16.self, "method")
        try cd.skip(4, "time and date")
        let crc = try cd.read(UInt32.self, "crc32")
        var compressed = UInt64(try cd.read(UInt32.self, "compressed size"))
        var uncompressed = UInt64(try cd.read(UInt32.self, "uncompressed size"))
        let nameLength = Int(try cd.read(UInt16.self, "name length"))
        let extraLength = Int(try cd.read(UInt16.self, "extra length"))
        let commentLength = Int(try cd.read(UInt16.self, "comment length"))
        let disk = try cd.read(UInt16.self, "disk number")
        try cd.skip(6, "attributes")
        var localOffset = UInt64(try cd.read(UInt32.self, "local header offset"))
        let name = try cd.readUTF8(nameLength, "entry name")
        var extra = ByteReader(try cd.readBytes(extraLength, "extra field"), baseOffset: cd.baseOffset + cd.offset - extraLength)
        try cd.skip(commentLength, "entry comment")

        while extra.remaining >= 4 {
            let id = try extra.read(UInt16.self, "extra id")
            let length = Int(try extra.read(UInt16.self, "extra length"))
            var field = ByteReader(try extra.readBytes(length, "extra field '\(name)'"), baseOffset: extra.baseOffset + extra.offset - length)
            guard id == 0x0001 else { continue }
            if uncompressed == 0xFFFF_FFFF { uncompressed = try field.read(UInt64.self, "zip64 uncompressed size of '\(name)'") }
            if compressed == 0xFFFF_FFFF { compressed = try field.read(UInt64.self, "zip64 compressed size of '\(name)'") }
            if localOffset == 0xFFFF_FFFF { localOffset = try field.read(UInt64.self, "zip64 local header offset of '\(name)'") }
        }
        guard disk == 0 || disk == 0xFFFF else {
            throw BloomError(.zipUnsupported, "entry '\(name)' is on disk \(disk); multi-disk archives are not supported",
                             location: "offset \(at)")
        }
        guard flags & 0x0001 == 0 else {
            throw BloomError(.zipUnsupported, "entry '\(name)' is encrypted", location: "offset \(at)")
        }
        let entry = Entry(name: name, method: method, flags: flags, crc32: crc,
                          compressedSize: try Checked.int(compressed, "compressed size of '\(name)'"),
                          uncompressedSize: try Checked.int(uncompressed, "uncompressed size of '\(name)'"),
                          localHeaderOffset: try Checked.int(localOffset, "local header offset of '\(name)'"))
        guard entry.localHeaderOffset <= fileSize, entry.compressedSize <= fileSize else {
            throw BloomError(.zipFormat, "entry '\(name)' (local header at \(entry.localHeaderOffset), \(entry.compressedSize) bytes) lies past the file's \(fileSize) bytes",
                             location: "offset \(at)")
        }
        return entry
    }

    // MARK: entry data

    /// Absolute offset of an entry's data: its local header offset + 30 + name length + extra length.
    func dataOffset(of entry: Entry) throws -> Int {
        do {
            var r = ByteReader(file.bytes, offset: entry.localHeaderOffset)
            guard try r.read(UInt32.self, "local header signature of '\(entry.name)'") == 0x04034b50 else {
                throw BloomError(.zipFormat, "bad local header signature for entry '\(entry.name)'",
                                 location: "offset \(entry.localHeaderOffset)")
            }
            try r.skip(22, "local header of '\(entry.name)'")
            let nameLength = Int(try r.read(UInt16.self, "local name length of '\(entry.name)'"))
            let extraLength = Int(try r.read(UInt16.self, "local extra length of '\(entry.name)'"))
            let offset = entry.localHeaderOffset + 30 + nameLength + extraLength
            guard offset <= file.count, entry.compressedSize <= file.count - offset else {
                throw BloomError(.zipFormat, "data of entry '\(entry.name)' [\(offset), \(offset + entry.compressedSize)) runs past the file's \(file.count) bytes",
                                 location: "offset \(entry.localHeaderOffset)")
            }
            return offset
        } catch let error as BloomError {
            throw error.at(path: file.path)
        }
    }

    /// An entry's bytes: stored entries as a window of the mapping (no copy), deflated ones inflated into the heap —
    /// or, with `inflate` false, left deflated behind an unreadable storage of the declared size (headers only).
    func contents(of entry: Entry, inflate: Bool = true) throws -> Contents {
        let offset = try dataOffset(of: entry)
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw BloomError(.zipFormat, "stored entry '\(entry.name)' has compressed size \(entry.compressedSize) ≠ size \(entry.uncompressedSize)",
                                 path: file.path, location: "offset \(entry.localHeaderOffset)")
            }
            return Contents(storage: mappedStorage, range: offset..<(offset + entry.compressedSize), fileOffset: offset, inPlace: true)
        case 8:
            let input = try file.slice(offset: offset, length: entry.compressedSize, what: "entry '\(entry.name)'")
            let storage = inflate ? try self.inflate(input, entry: entry)
                : try ByteStorage(unreadable: entry.uncompressedSize)
            return Contents(storage: storage, range: 0..<entry.uncompressedSize, fileOffset: offset, inPlace: false)
        default:
            throw BloomError(.zipUnsupported, "entry '\(entry.name)' uses compression method \(entry.method); only stored (0) and deflated (8) are read",
                             path: file.path, location: "offset \(entry.localHeaderOffset)")
        }
    }

    private func inflate(_ input: UnsafeRawBufferPointer, entry: Entry) throws -> ByteStorage {
        let location = "offset \(entry.localHeaderOffset)"
        let (bound, overflow) = entry.compressedSize.multipliedReportingOverflow(by: Self.maxDeflateRatio)
        guard overflow || entry.uncompressedSize <= bound + 64 else {
            throw BloomError(.zipInflate, "entry '\(entry.name)' claims \(entry.uncompressedSize) bytes from \(entry.compressedSize) deflated bytes, more than deflate can produce",
                             path: file.path, location: location)
        }
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(entry.uncompressedSize, 1), alignment: 64)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            output.deallocate()
            throw BloomError(.zipInflate, "zlib could not start inflating entry '\(entry.name)'", path: file.path, location: location)
        }
        defer { inflateEnd(&stream) }
        // zlib counts in UInt32; feed and drain in chunks so entries over 4 GiB inflate too.
        let chunk = 1 << 30
        var inPos = 0, outPos = 0
        var status = Z_OK
        while status == Z_OK {
            let inCount = min(chunk, input.count - inPos)
            let outCount = min(chunk, entry.uncompressedSize - outPos)
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + inPos })
            stream.avail_in = UInt32(inCount)
            stream.next_out = output.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + outPos }
            stream.avail_out = UInt32(outCount)
            status = CZlib.inflate(&stream, Z_NO_FLUSH)
            let consumed = inCount - Int(stream.avail_in), produced = outCount - Int(stream.avail_out)
            inPos += consumed
            outPos += produced
            if status == Z_OK, consumed == 0, produced == 0 { status = Z_BUF_ERROR }
        }
        var crc = crc32(0, nil, 0)
        var crcPos = 0
        while crcPos < outPos {
            let n = min(chunk, outPos - crcPos)
            crc = crc32(crc, output.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + crcPos }, UInt32(n))
            crcPos += n
        }
        guard status == Z_STREAM_END, outPos == entry.uncompressedSize, UInt32(crc) == entry.crc32 else {
            output.deallocate()
            let why = status != Z_STREAM_END ? "the deflate stream is damaged or truncated (zlib status \(status))"
                : outPos != entry.uncompressedSize ? "it inflates to \(outPos) bytes, not the declared \(entry.uncompressedSize)"
                : "CRC-32 \(String(UInt32(crc), radix: 16)) does not match the declared \(String(entry.crc32, radix: 16))"
            throw BloomError(.zipInflate, "entry '\(entry.name)' cannot be inflated: \(why)", path: file.path, location: location)
        }
        return ByteStorage(adopting: UnsafeMutableRawBufferPointer(rebasing: output[0..<entry.uncompressedSize]))
    }
}
