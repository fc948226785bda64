import BloomCore
import BloomGGUF

/// The .bkz layout (Formats/bkz.md):
///
///     header   32 bytes: "BKZ\x1A", u32 version, u64 index offset, u64 index length, u64 xxh64 of the index
///     data     zstd frames, chunk after chunk in index order, no gaps
///     index    files → segments → chunks (little-endian, below), ending exactly at the end of the file
///
/// Every byte is covered by something checked: the header by the file size and the index checksum, the index by its
/// checksum, the data by the tiling rule and every chunk's xxh64 of its decoded bytes.
public enum BKZFormat {
    public static let magic: [UInt8] = [0x42, 0x4B, 0x5A, 0x1A]
    public static let version: UInt32 = 1
    public static let headerSize = 32
    public static let indexMagic: [UInt8] = Array("BKZI".utf8)

    /// Decoded bytes of one chunk, at most. Why: a reader allocates one buffer of this size per thread; a larger
    /// number in an index is a lie meant to exhaust memory.
    public static let maxChunkBytes = 16 << 20
    /// Index bytes, at most (a 176B-parameter model in 1 MiB chunks needs about 10 MB).
    public static let maxIndexBytes = 1 << 30
    /// Path and name bytes, at most (Linux's PATH_MAX).
    public static let maxNameBytes = 4096
    /// Minimum encoded sizes, to bound counts by the bytes left before allocating.
    static let minFileRecord = 2 + 8 + 8 + 4
    static let minSegmentRecord = 1 + 1 + 2 + 4 + 8 + 4 + 2
    static let minChunkRecord = 4 + 8

    /// The 32-byte header for an index at `indexOffset` with `indexBytes`.
    static func header(indexOffset: Int, indexBytes: [UInt8]) -> [UInt8] {
        var out = magic
        append(&out, version)
        append(&out, UInt64(indexOffset))
        append(&out, UInt64(indexBytes.count))
        append(&out, indexBytes.withUnsafeBytes { XXHash64.hash($0) })
        return out
    }

    // MARK: index encoding

    static func encode(_ index: BKZIndex) -> [UInt8] {
        var out = indexMagic
        out.append(index.isFolder ? 1 : 0)
        out += [0, 0, 0]
        append(&out, UInt32(index.files.count))
        append(&out, UInt32(index.segments.count))
        append(&out, UInt32(index.chunks.count))
        for f in index.files {
            appendString(&out, f.path)
            append(&out, UInt64(f.size))
            append(&out, f.checksum)
            append(&out, UInt32(f.segments.count))
        }
        for s in index.segments {
            out.append(s.codec.id)
            var half: UInt8 = 0, block: UInt16 = 0, dup: UInt32 = 0
            switch s.codec {
            case .blocks(let b, let h): half = UInt8(h); block = UInt16(b)
            case .fields(let t): half = UInt8(t); block = UInt16(s.codec.unit)
            case .duplicate(let k): dup = UInt32(k)
            default: break
            }
            out.append(half)
            append(&out, block)
            append(&out, dup)
            append(&out, UInt64(s.rawLength))
            append(&out, UInt32(s.chunks.count))
            appendString(&out, s.name)
        }
        for c in index.chunks {
            append(&out, UInt32(c.rawLength))
            append(&out, c.checksum)
            for p in c.planeLengths { append(&out, UInt32(p)) }
        }
        return out
    }

    private static func append<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func appendString(_ out: inout [UInt8], _ s: String) {
        let bytes = Array(s.utf8.prefix(maxNameBytes))
        append(&out, UInt16(bytes.count))
        out += bytes
    }

    // MARK: decoding (every number checked; nothing here traps on file data)

    /// Reads and checks the header and the index of a whole .bkz file given as bytes.
    /// - Throws: a `BloomError` with a `bkz-*` code naming what is wrong and where.
    static func decode(file bytes: UnsafeRawBufferPointer) throws -> BKZIndex {
        var r = ByteReader(bytes)
        guard bytes.count >= headerSize else {
            throw BloomError(.truncated,
                             "a .bkz file needs a \(headerSize)-byte header but has only \(bytes.count) bytes")
        }
        let m = try r.readBytes(4, "magic")
        guard Array(m) == magic else {
            throw BloomError(.bkzBadMagic, "not a .bkz file (bad magic)", location: "offset 0")
        }
        let v = try r.read(UInt32.self, "version")
        guard v == version else {
            throw BloomError(.bkzBadVersion, "format version \(v) is not supported (this build reads \(version))",
                             location: "offset 4")
        }
        let offset = try Checked.int(try r.read(UInt64.self, "index offset"), "index offset")
        let length = try Checked.int(try r.read(UInt64.self, "index length"), "index length")
        let hash = try r.read(UInt64.self, "index checksum")
        guard length <= maxIndexBytes else {
            throw BloomError(.limitExceeded, "index of \(length) bytes is past the limit of \(maxIndexBytes)",
                             location: "offset 16")
        }
        guard offset >= headerSize, offset <= bytes.count, length == bytes.count - offset else {
            throw BloomError(.bkzBadIndex, "index [\(offset), \(offset &+ length)) is not the end of the file "
                             + "(\(bytes.count) bytes, data from \(headerSize))", location: "offset 8")
        }
        let indexBytes = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
        let actual = XXHash64.hash(indexBytes)
        guard actual == hash else {
            throw BloomError(.bkzChecksumMismatch, "index checksum is \(hex(actual)), the header records \(hex(hash))",
                             location: "offset \(offset)")
        }
        var index = try decodeIndex(indexBytes, baseOffset: offset)
        try assignOffsets(&index, dataEnd: offset)
        return index
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    private static func bad(_ message: String, _ r: ByteReader) -> BloomError {
        BloomError(.bkzBadIndex, message, location: "offset \(r.baseOffset + r.offset)")
    }

    static func decodeIndex(_ bytes: UnsafeRawBufferPointer, baseOffset: Int) throws -> BKZIndex {
        var r = ByteReader(bytes, baseOffset: baseOffset)
        guard Array(try r.readBytes(4, "index magic")) == indexMagic else {
            throw bad("index does not start with BKZI", r)
        }
        let kind = try r.read(UInt8.self, "kind")
        guard kind <= 1 else { throw bad("kind \(kind) is neither 0 (file) nor 1 (folder)", r) }
        guard Array(try r.readBytes(3, "reserved")) == [0, 0, 0] else { throw bad("reserved bytes are not zero", r) }
        let fileCount = Int(try r.read(UInt32.self, "file count"))
        let segmentCount = Int(try r.read(UInt32.self, "segment count"))
        let chunkCount = Int(try r.read(UInt32.self, "chunk count"))
        let minimum = fileCount * minFileRecord + segmentCount * minSegmentRecord + chunkCount * minChunkRecord
        guard minimum <= r.remaining else {
            throw bad("\(fileCount) files, \(segmentCount) segments and \(chunkCount) chunks need at least "
                      + "\(minimum) bytes but the index has \(r.remaining) left", r)
        }
        guard fileCount >= 1, kind == 1 || fileCount == 1 else {
            throw bad("a \(kind == 1 ? "folder" : "single-file") archive cannot hold \(fileCount) files", r)
        }
        var index = BKZIndex(isFolder: kind == 1)
        var paths = Set<String>()
        var nextSegment = 0
        for _ in 0..<fileCount {
            let at = r.baseOffset + r.offset
            let path = try r.readUTF8(Int(try r.read(UInt16.self, "path length")), "path")
            try checkPath(path, folder: index.isFolder, at: at)
            guard paths.insert(path).inserted else {
                throw BloomError(.bkzBadPath, "path '\(path)' appears twice", location: "offset \(at)")
            }
            let size = try Checked.int(try r.read(UInt64.self, "file size"), "file size")
            let checksum = try r.read(UInt64.self, "file checksum")
            let n = Int(try r.read(UInt32.self, "segment count"))
            guard n <= segmentCount - nextSegment else { throw bad("file '\(path)' claims segments past the last", r) }
            index.files.append(BKZEntry(path: path, size: size, checksum: checksum,
                                        segments: nextSegment..<(nextSegment + n)))
            nextSegment += n
        }
        guard nextSegment == segmentCount else { throw bad("files hold \(nextSegment) of \(segmentCount) segments", r) }
        try checkNoFileIsAFolder(paths)
        var nextChunk = 0
        for k in 0..<segmentCount {
            let id = try r.read(UInt8.self, "codec")
            let half = Int(try r.read(UInt8.self, "half fields"))
            let block = Int(try r.read(UInt16.self, "block bytes"))
            let dup = Int(try r.read(UInt32.self, "duplicate of"))
            let raw = try Checked.int(try r.read(UInt64.self, "segment length"), "segment length")
            let n = Int(try r.read(UInt32.self, "chunk count"))
            let name = try r.readUTF8(Int(try r.read(UInt16.self, "name length")), "segment name")
            let codec: BKZCodec
            switch id {
            case 0: codec = .zstd
            case 1: codec = .f16
            case 2: codec = .bf16
            case 3: codec = .f32
            case 4:
                guard (1...4).contains(half), block > 2 * half, block <= 1024 else {
                    throw bad("segment '\(name)': block layout \(block) bytes with \(half) f16 fields is invalid", r)
                }
                codec = .blocks(blockBytes: block, halfFields: half)
            case 5:
                guard dup < k, index.segments[dup].rawLength == raw, n == 0 else {
                    throw bad("segment '\(name)' duplicates segment \(dup), which is not an earlier one of "
                              + "\(raw) bytes", r)
                }
                if case .duplicate = index.segments[dup].codec {
                    throw bad("segment '\(name)' duplicates segment \(dup), itself a duplicate", r)
                }
                codec = .duplicate(of: dup)
            case 6:
                guard let layout = BKZFieldLayout.of(type: half), block == layout.blockBytes else {
                    throw bad("segment '\(name)': field layout of ggml type \(half) with \(block)-byte blocks is "
                              + "unknown", r)
                }
                codec = .fields(type: half)
            default: throw bad("segment '\(name)': codec \(id) is unknown", r)
            }
            guard n <= chunkCount - nextChunk else { throw bad("segment '\(name)' claims chunks past the last", r) }
            index.segments.append(BKZSegment(name: name, codec: codec, rawLength: raw,
                                             chunks: nextChunk..<(nextChunk + n)))
            nextChunk += n
        }
        guard nextChunk == chunkCount else { throw bad("segments hold \(nextChunk) of \(chunkCount) chunks", r) }
        for segment in index.segments {
            var total = 0
            for _ in segment.chunks {
                let raw = Int(try r.read(UInt32.self, "chunk length"))
                guard raw > 0, raw <= maxChunkBytes, raw % segment.codec.unit == 0 else {
                    throw bad("segment '\(segment.name)': chunk of \(raw) bytes is not 1…\(maxChunkBytes) "
                              + "whole units of \(segment.codec.unit)", r)
                }
                let checksum = try r.read(UInt64.self, "chunk checksum")
                var planes: [Int] = []
                for _ in 0..<segment.codec.planeCount {
                    let p = Int(try r.read(UInt32.self, "frame length"))
                    guard p > 0 else { throw bad("segment '\(segment.name)': empty zstd frame", r) }
                    planes.append(p)
                }
                index.chunks.append(BKZChunk(rawLength: raw, checksum: checksum, planeLengths: planes))
                total += raw
            }
            if case .duplicate = segment.codec { continue }
            guard total == segment.rawLength else {
                throw bad("segment '\(segment.name)' is \(segment.rawLength) bytes but its chunks hold \(total)", r)
            }
        }
        guard r.isAtEnd else { throw bad("\(r.remaining) bytes after the last chunk record", r) }
        for f in index.files {
            var total = 0
            for s in f.segments { total = try Checked.add(total, index.segments[s].rawLength, "size of '\(f.path)'") }
            guard total == f.size else {
                throw bad("file '\(f.path)' is \(f.size) bytes but its segments hold \(total)", r)
            }
        }
        return index
    }

    /// Frames tile [headerSize, dataEnd) in index order: each chunk starts where the previous one ended.
    private static func assignOffsets(_ index: inout BKZIndex, dataEnd: Int) throws {
        var at = headerSize
        for k in index.chunks.indices {
            index.chunks[k].storedOffset = at
            for p in index.chunks[k].planeLengths {
                at = try Checked.add(at, p, "frame offset")
                guard at <= dataEnd else {
                    throw BloomError(.bkzFramePastEnd, "chunk \(k)'s frames end at \(at), past the data region's end "
                                     + "at \(dataEnd)", location: "chunk \(k)")
                }
            }
        }
        guard at == dataEnd else {
            throw BloomError(.bkzFramePastEnd, "frames end at \(at) but the data region ends at \(dataEnd): "
                             + "\(dataEnd - at) bytes belong to nothing", location: "offset \(at)")
        }
    }

    /// A stored path: relative, `/`-separated, no empty, `.` or `..` component, no NUL (single files: no `/`).
    static func checkPath(_ path: String, folder: Bool, at: Int) throws {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let ok = !path.isEmpty && !path.contains("\0") && (folder || parts.count == 1)
            && parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
        guard ok else {
            throw BloomError(.bkzBadPath, "path '\(path)' is not a relative path inside the output",
                             location: "offset \(at)")
        }
    }

    /// "a" and "a/b" cannot both be files.
    private static func checkNoFileIsAFolder(_ paths: Set<String>) throws {
        for p in paths {
            var prefix = Substring(p)
            while let slash = prefix.lastIndex(of: "/") {
                prefix = prefix[..<slash]
                if paths.contains(String(prefix)) {
                    throw BloomError(.bkzBadPath, "'\(prefix)' is both a file and the folder of '\(p)'")
                }
            }
        }
    }
}
