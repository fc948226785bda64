import BloomCore
import BloomGGUF
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A .bkz file opened for reading: the header and index checked (Formats/bkz.md), every frame in bounds. Tensors
/// and files are decoded chunk by chunk, each chunk checked against its xxh64 before anyone sees its bytes.
public final class BKZArchive: @unchecked Sendable {
    public let path: String
    public let file: MappedFile
    public let index: BKZIndex

    /// - Throws: `BloomError` (`bkz-*`, `.truncated`, `.io`) naming the file and the offset.
    public init(path: String) throws {
        self.path = path
        try PackPaths.requireRegularFile(path)
        file = try MappedFile(path: path)
        do {
            index = try BKZFormat.decode(file: file.bytes)
        } catch let e as BloomError {
            throw e.at(path: path)
        }
    }

    /// Whether `path` starts with the .bkz magic (false for anything unreadable or not a regular file).
    public static func looksPacked(_ path: String) -> Bool {
        guard let st = PackPaths.status(path), PackPaths.isRegular(st), st.st_size >= BKZFormat.headerSize else {
            return false
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var m = [UInt8](repeating: 0, count: 4)
        return read(fd, &m, 4) == 4 && m == BKZFormat.magic
    }

    /// The decoded bytes of segment `k` (a tensor), checked (random access: only its chunks are read).
    public func segmentBytes(_ k: Int) throws -> [UInt8] {
        guard index.segments.indices.contains(k) else {
            throw BloomError(.invalidArgument, "segment \(k) does not exist (\(index.segments.count) segments)",
                             path: path)
        }
        let storage = index.storage(of: k)
        var out = [UInt8](repeating: 0, count: storage.rawLength)
        let worker = try UnpackWorker(maxChunk: storage.chunks.map { index.chunks[$0].rawLength }.max() ?? 0)
        var at = 0
        do {
            try out.withUnsafeMutableBytes { dst in
                for c in storage.chunks {
                    let n = index.chunks[c].rawLength
                    try decode(chunk: c, codec: storage.codec,
                               into: UnsafeMutableRawBufferPointer(rebasing: dst[at..<(at + n)]), worker: worker)
                    at += n
                }
            }
        } catch let e as BloomError {
            throw BloomError(e.code, e.message, path: path, location: "tensor '\(index.segments[k].name)', "
                             + (e.location ?? ""), cause: e.cause)
        }
        return out
    }

    /// Decodes chunk `c` into `dst` (exactly its length) and checks its xxh64.
    func decode(chunk c: Int, codec: BKZCodec, into dst: UnsafeMutableRawBufferPointer, worker: UnpackWorker) throws {
        let chunk = index.chunks[c]
        var from = chunk.storedOffset
        let planeLengths = BytePlanes.planeLengths(codec, rawLength: chunk.rawLength)
        let target = codec == .zstd ? dst : worker.planes.bytes(chunk.rawLength)
        var to = 0
        for (p, stored) in chunk.planeLengths.enumerated() {
            let frame = try file.slice(offset: from, length: stored, what: "chunk \(c) frame \(p)")
            let plane = UnsafeMutableRawBufferPointer(rebasing: target[to..<(to + planeLengths[p])])
            try worker.zstd.decompress(frame, into: plane, what: "chunk \(c) frame \(p) at offset \(from)")
            from += stored
            to += planeLengths[p]
        }
        if codec != .zstd { BytePlanes.join(codec, UnsafeRawBufferPointer(target), dst) }
        let actual = XXHash64.hash(UnsafeRawBufferPointer(dst))
        guard actual == chunk.checksum else {
            throw BloomError(.bkzChecksumMismatch, "chunk \(c) decodes to bytes whose xxh64 is "
                             + "\(BKZFormat.hex(actual)), packed as \(BKZFormat.hex(chunk.checksum))",
                             location: "offset \(chunk.storedOffset)")
        }
    }

    /// Decodes every byte of file `f` in order, on `threads` threads, handing each checked chunk to `consume`
    /// (on the calling thread); then checks the file's size and xxh64. `place`, when given, also gets each checked
    /// chunk with its offset in the file, on the worker that decoded it (a writer that places chunks by offset:
    /// the copy into the output is shared by the workers instead of made on the consuming thread).
    func stream(file f: Int, threads: Int, place: (@Sendable (Int, UnsafeRawBufferPointer) throws -> Void)? = nil,
                consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        let entry = index.files[f]
        var jobs: [(chunk: Int, codec: BKZCodec, offset: Int)] = []
        var offset = 0  // the index was checked: a file's chunks add up to its size
        for s in entry.segments {
            let storage = index.storage(of: s)
            for c in storage.chunks {
                jobs.append((c, storage.codec, offset))
                offset += index.chunks[c].rawLength
            }
        }
        let maxChunk = jobs.map { index.chunks[$0.chunk].rawLength }.max() ?? 0
        let threads = max(1, threads)
        let batch = 2 * threads
        let workers = try (0..<threads).map { _ in try UnpackWorker(maxChunk: maxChunk) }
        let slots = (0..<(2 * batch)).map { _ in UnpackSlot(capacity: maxChunk) }
        let sendableJobs = SendableBox(jobs)
        var hash = XXHash64()
        var total = 0
        do {
            try Pipeline.run(count: jobs.count, threads: threads, batch: batch, work: { [self] i, w in
                let job = sendableJobs.value[i]
                let slot = slots[i % slots.count]
                do {
                    let dst = slot.buffer.bytes(index.chunks[job.chunk].rawLength)
                    try decode(chunk: job.chunk, codec: job.codec, into: dst, worker: workers[w])
                    try place?(job.offset, UnsafeRawBufferPointer(dst))
                    slot.error = nil
                } catch {
                    slot.error = (error as? BloomError) ?? BloomError(.bkzBadFrame, "\(error)")
                }
            }, consume: { i in
                let slot = slots[i % slots.count]
                if let error = slot.error { throw error }
                let bytes = UnsafeRawBufferPointer(slot.buffer.bytes(index.chunks[jobs[i].chunk].rawLength))
                hash.update(bytes)
                total += bytes.count
                try consume(bytes)
                let chunk = index.chunks[jobs[i].chunk]
                file.advise(.dontNeed, offset: chunk.storedOffset, length: chunk.storedLength)
            })
        } catch let e as BloomError {
            throw BloomError(e.code, e.message, path: path, location: "file '\(entry.path)', \(e.location ?? "")",
                             cause: e.cause)
        }
        guard total == entry.size, hash.digest() == entry.checksum else {
            throw BloomError(.bkzChecksumMismatch, "file '\(entry.path)' decodes to \(total) bytes with xxh64 "
                             + "\(BKZFormat.hex(hash.digest())), packed as \(entry.size) bytes with "
                             + "\(BKZFormat.hex(entry.checksum))", path: path)
        }
    }
}

struct SendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// One worker's decompression context and plane scratch.
final class UnpackWorker: @unchecked Sendable {
    let zstd: ZstdDecompressor
    let planes: ByteBuffer
    init(maxChunk: Int) throws {
        zstd = try ZstdDecompressor()
        planes = ByteBuffer(count: maxChunk)
    }
}

/// One decoded chunk between a worker and the consumer.
final class UnpackSlot: @unchecked Sendable {
    let buffer: ByteBuffer
    var error: BloomError?
    init(capacity: Int) { buffer = ByteBuffer(count: capacity) }
}
