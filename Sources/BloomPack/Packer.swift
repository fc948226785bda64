import BloomCore
import BloomGGUF
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Settings of `pack`.
public struct PackOptions: Sendable {
    /// zstd level for segments stored as plain zstd (headers, JSON, tokenizer files, unknown tensors).
    public var level: Int = 3
    /// Worker threads (each compresses whole chunks; chunks are independent frames).
    public var threads: Int = 2
    /// Decoded bytes per chunk (rounded down to whole elements or blocks).
    public var chunkBytes: Int = 1 << 20
    public var quiet = false

    public init(level: Int = 3, threads: Int = 2, chunkBytes: Int = 1 << 20, quiet: Bool = false) {
        self.level = level
        self.threads = threads
        self.chunkBytes = chunkBytes
        self.quiet = quiet
    }
}

/// What `pack` did, for the one-line summary and `--json`.
public struct PackSummary: Sendable {
    public struct Kind: Sendable {
        public var tensors = 0
        public var rawBytes = 0
        public var storedBytes = 0
        public var ratio: Double { storedBytes == 0 ? 0 : Double(rawBytes) / Double(storedBytes) }
    }
    public var input: String
    public var output: String
    public var files = 0
    public var tensors = 0
    public var duplicates = 0
    public var inputBytes = 0
    public var outputBytes = 0
    /// Per dtype ("bf16", "q8_0", …; "other" for headers and non-tensor files).
    public var kinds: [String: Kind] = [:]
    /// Per kind of tensor in the model ("token_embd", "attn_qkv", "attn_qkv.bias", …; "other" for tensors BLOOM does
    /// not have): tensors only.
    public var tensorKinds: [String: Kind] = [:]

    /// Counts a segment's `raw` bytes in and `stored` bytes out under its dtype and its tensor kind (`isNew`: and the
    /// tensor itself, once).
    mutating func count(_ s: PlannedSegment, raw: Int = 0, stored: Int = 0, isNew: Bool = false) {
        let tensor = s.kind != "other"
        for (key, table) in [(s.kind, \PackSummary.kinds), (s.tensorKind, \PackSummary.tensorKinds)] {
            guard let key else { continue }
            self[keyPath: table][key, default: Kind()].rawBytes += raw
            self[keyPath: table][key, default: Kind()].storedBytes += stored
            if isNew && tensor { self[keyPath: table][key, default: Kind()].tensors += 1 }
        }
        if isNew && tensor { tensors += 1 }
    }
    public var seconds = 0.0
    public var ratio: Double { outputBytes == 0 ? 0 : Double(inputBytes) / Double(outputBytes) }
}

/// `pack`: a file or a folder → one .bkz file (Formats/bkz.md), streamed chunk by chunk, written atomically.
public enum Packer {
    /// - Parameters:
    ///   - input: a file (safetensors, GGUF, anything) or a folder (every regular file under it).
    ///   - output: the .bkz to write; refused when it is an input or inside the input folder.
    /// - Throws: `BloomError` naming the file; nothing is left under `output` on an error.
    public static func pack(input: String, output: String, options: PackOptions = PackOptions()) throws -> PackSummary {
        let start = ProgressReporter.now()
        guard let st = PackPaths.status(input) else {
            throw BloomError(.io, "cannot read: \(String(cString: strerror(errno)))", path: input)
        }
        let isFolder = PackPaths.isDirectory(st)
        let list: [(relative: String, path: String)]
        if isFolder {
            list = try PackPaths.files(under: input)
        } else {
            try PackPaths.requireRegularFile(input)
            list = [(PackPaths.split(input).name, input)]
        }
        try refuseOutputAmongInputs(output: output, input: input, isFolder: isFolder, files: list.map(\.path))

        var inputs: [(relative: String, file: MappedFile, plan: [PlannedSegment])] = []
        for entry in list {
            try PackPaths.requireRegularFile(entry.path)
            let file = try MappedFile(path: entry.path)
            inputs.append((entry.relative, file, PackPlanner.segments(of: file, name: entry.relative)))
        }
        let totalBytes = inputs.reduce(0) { $0 + $1.file.count }
        let totalSegments = inputs.reduce(0) { $0 + $1.plan.count }
        let progress = ProgressReporter(label: "pack", totalItems: totalSegments, totalBytes: totalBytes,
                                        quiet: options.quiet)
        // Through the cache (writeback overlaps compression); frames of a chunk and more go straight to write(2).
        let out = try AtomicFile(destination: output, bufferSize: 64 << 10)
        try out.writeZeros(BKZFormat.headerSize)
        var writer = try ChunkWriter(options: options, isFolder: isFolder, out: out, progress: progress)
        var summary = PackSummary(input: input, output: output)
        for (relative, file, plan) in inputs {
            try writer.add(file: file, relative: relative, plan: plan, summary: &summary)
        }
        let indexOffset = out.bytesWritten
        let indexBytes = BKZFormat.encode(writer.index)
        try out.write(indexBytes)
        try BKZFormat.header(indexOffset: indexOffset, indexBytes: indexBytes).withUnsafeBytes {
            try out.overwrite(at: 0, $0)
        }
        try out.commit()
        progress.finish()
        summary.files = inputs.count
        summary.inputBytes = totalBytes
        summary.outputBytes = out.bytesWritten
        summary.seconds = ProgressReporter.now() - start
        return summary
    }

    /// coreutils' rule: never write over an input, and never into the folder being read.
    static func refuseOutputAmongInputs(output: String, input: String, isFolder: Bool, files: [String]) throws {
        let target = PackPaths.canonical(output)
        if isFolder {
            let folder = PackPaths.canonical(input)
            if target == folder || target.hasPrefix(folder == "/" ? "/" : folder + "/") {
                throw BloomError(.bkzBadOutput, "the output is inside the folder being packed", path: output)
            }
        }
        let outStat = PackPaths.status(output)
        for f in files {
            if PackPaths.canonical(f) == target || PackPaths.sameFile(outStat, f) {
                throw BloomError(.bkzBadOutput, "the output is an input of this command", path: output)
            }
        }
    }
}

/// Compresses the chunks of one input file after another into an open .bkz, building its index.
private struct ChunkWriter {
    let options: PackOptions
    let out: AtomicFile
    let progress: ProgressReporter
    private(set) var index: BKZIndex
    private let workers: [PackWorker]
    private let slots: [PackSlot]
    private let batch: Int
    /// Tensors by (length, codec, hash of chunk hashes), to store repeated tensors once.
    private var seen: [DedupKey: (segment: Int, bytes: UnsafeRawBufferPointer)] = [:]
    /// Inputs stay mapped until the end: a later tensor is compared byte for byte with an earlier one.
    private var mapped: [MappedFile] = []
    private var segmentsDone = 0
    private var bytesDone = 0

    struct DedupKey: Hashable {
        var length: Int
        var codec: UInt8
        var hash: UInt64
    }

    init(options: PackOptions, isFolder: Bool, out: AtomicFile, progress: ProgressReporter) throws {
        self.options = options
        self.out = out
        self.progress = progress
        index = BKZIndex(isFolder: isFolder)
        let threads = max(1, options.threads)
        batch = 2 * threads
        workers = try (0..<threads).map { _ in try PackWorker(options: options) }
        slots = (0..<(2 * batch)).map { _ in PackSlot(capacity: PackWorker.storedCapacity(options.chunkBytes)) }
    }

    /// One job per chunk of every segment, in file order.
    private struct Job {
        var segment: Int
        var range: Range<Int>
        var codec: BKZCodec
    }

    mutating func add(file: MappedFile, relative: String, plan: [PlannedSegment], summary: inout PackSummary) throws {
        mapped.append(file)
        file.advise(.sequential)
        let firstSegment = index.segments.count
        var jobs: [Job] = []
        for (k, s) in plan.enumerated() {
            let step = max(s.codec.unit, options.chunkBytes - options.chunkBytes % s.codec.unit)
            var at = s.range.lowerBound
            while at < s.range.upperBound {
                let end = min(at + step, s.range.upperBound)
                jobs.append(Job(segment: firstSegment + k, range: at..<end, codec: s.codec))
                at = end
            }
        }
        let hashes = try chunkHashes(file, jobs)
        // Segments, with repeated tensors turned into references to their first copy.
        var isDuplicate = [Bool](repeating: false, count: plan.count)
        var j = 0
        for (k, s) in plan.enumerated() {
            let first = j
            while j < jobs.count, jobs[j].segment == firstSegment + k { j += 1 }
            var codec = s.codec
            if s.codec != .zstd, let bytes = try? file.slice(offset: s.range.lowerBound, length: s.range.count) {
                let key = DedupKey(length: s.range.count, codec: s.codec.id,
                                   hash: hashes[first..<j].withUnsafeBytes { XXHash64.hash($0) })
                if let earlier = seen[key], memcmp(earlier.bytes.baseAddress!, bytes.baseAddress!, bytes.count) == 0 {
                    codec = .duplicate(of: earlier.segment)
                    isDuplicate[k] = true
                    summary.duplicates += 1
                } else {
                    seen[key] = (firstSegment + k, bytes)
                }
            }
            index.segments.append(BKZSegment(name: s.name, codec: codec, rawLength: s.range.count,
                                             chunks: index.chunks.count..<index.chunks.count))
            summary.count(s, raw: s.range.count, isNew: true)
        }
        // Compression: workers fill slots, this thread writes them in order and hashes the whole file.
        var fileHash = XXHash64()
        let base = file.base
        let workers = self.workers, slots = self.slots, slotCount = slots.count
        let work = jobs.map { isDuplicate[$0.segment - firstSegment] ? nil : $0 }
        let sendable = UncheckedJobs(jobs: work, base: base)
        try Pipeline.run(count: jobs.count, threads: workers.count, batch: batch, work: { i, w in
            guard let job = sendable.jobs[i], let base = sendable.base else { return }
            let src = UnsafeRawBufferPointer(start: base + job.range.lowerBound, count: job.range.count)
            slots[i % slotCount].fill { try workers[w].compress(job.codec, src, into: $0) }
        }, consume: { i in
            let job = jobs[i]
            let src = try file.slice(offset: job.range.lowerBound, length: job.range.count)
            fileHash.update(src)
            // Peak memory stays a few chunks for any model size: mapped input pages leave the process once used.
            file.advise(.dontNeed, offset: job.range.lowerBound, length: job.range.count)
            let k = job.segment - firstSegment
            if !isDuplicate[k] {
                let slot = slots[i % slotCount]
                if let error = slot.error { throw error.at(path: file.path) }
                try out.write(UnsafeRawBufferPointer(slot.buffer.bytes(slot.planeLengths.reduce(0, +))))
                if i == 0 || jobs[i - 1].segment != job.segment {
                    index.segments[job.segment].chunks = index.chunks.count..<index.chunks.count
                }
                index.chunks.append(BKZChunk(rawLength: job.range.count, checksum: hashes[i],
                                             planeLengths: slot.planeLengths))
                index.segments[job.segment].chunks = index.segments[job.segment].chunks.lowerBound..<index.chunks.count
                summary.count(plan[k], stored: slot.planeLengths.reduce(0, +))
            }
            bytesDone += job.range.count
            if i + 1 == jobs.count || jobs[i + 1].segment != job.segment { segmentsDone += 1 }
            progress.update(items: segmentsDone, bytes: bytesDone)
        })
        index.files.append(BKZEntry(path: relative, size: file.count, checksum: fileHash.digest(),
                                    segments: firstSegment..<index.segments.count))
    }

    /// xxh64 of every chunk, in parallel.
    private func chunkHashes(_ file: MappedFile, _ jobs: [Job]) throws -> [UInt64] {
        let hashes = HashSlots(count: jobs.count)
        let ranges = jobs.map(\.range)
        let base = UncheckedJobs<Job>(jobs: [], base: file.base)
        try Pipeline.run(count: jobs.count, threads: workers.count, batch: max(jobs.count, 1), work: { i, _ in
            guard let p = base.base else { return }
            hashes.values[i] = XXHash64.hash(UnsafeRawBufferPointer(start: p + ranges[i].lowerBound,
                                                                   count: ranges[i].count))
            file.advise(.dontNeed, offset: ranges[i].lowerBound, length: ranges[i].count)
        }, consume: { _ in })
        return Array(hashes.values)
    }
}

private struct UncheckedJobs<Job>: @unchecked Sendable {
    let jobs: [Job?]
    let base: UnsafeRawPointer?
}

private final class HashSlots: @unchecked Sendable {
    let values: UnsafeMutableBufferPointer<UInt64>
    init(count: Int) { values = .allocate(capacity: max(count, 1)); values.initialize(repeating: 0) }
    deinit { values.deallocate() }
}

/// The frames of one chunk between a worker and the writer.
private final class PackSlot: @unchecked Sendable {
    let buffer: ByteBuffer
    var planeLengths: [Int] = []
    var error: BloomError?
    init(capacity: Int) { buffer = ByteBuffer(count: capacity) }

    func fill(_ body: (UnsafeMutableRawBufferPointer) throws -> [Int]) {
        do {
            planeLengths = try body(buffer.bytes(buffer.count))
            error = nil
        } catch {
            self.error = (error as? BloomError) ?? BloomError(.bkzZstd, "\(error)")
        }
    }
}

/// One worker's compressors and scratch memory.
private final class PackWorker: @unchecked Sendable {
    let planes: ByteBuffer
    let retry: ByteBuffer
    let matcher: ZstdCompressor
    let entropy: ZstdCompressor

    /// Room for every frame of a chunk: zstd's bound for the whole chunk plus a small-input margin per plane.
    static func storedCapacity(_ chunkBytes: Int) -> Int { ZstdCompressor.bound(chunkBytes) + 9 * 128 }

    init(options: PackOptions) throws {
        planes = ByteBuffer(count: options.chunkBytes)
        retry = ByteBuffer(count: ZstdCompressor.bound(options.chunkBytes))
        matcher = try ZstdCompressor(level: options.level)
        entropy = try ZstdCompressor(level: 1, literalsOnly: true)
    }

    /// Splits `src` into planes and writes one frame per plane into `dst`; returns the frame lengths.
    func compress(_ codec: BKZCodec, _ src: UnsafeRawBufferPointer,
                  into dst: UnsafeMutableRawBufferPointer) throws -> [Int] {
        if codec == .zstd { return [try matcher.compress(src, into: dst)] }
        BytePlanes.split(codec, src, planes.bytes(src.count))
        var lengths: [Int] = []
        var from = 0, to = 0
        for n in BytePlanes.planeLengths(codec, rawLength: src.count) {
            let plane = UnsafeRawBufferPointer(rebasing: planes.bytes(src.count)[from..<(from + n)])
            let room = UnsafeMutableRawBufferPointer(rebasing: dst[to...])
            var written = try entropy.compress(plane, into: room)
            // Runs (a constant layer-norm weight, zero biases) are what matches are for: entropy coding alone
            // stops at 8×.
            if written * 7 <= n {
                let again = try matcher.compress(plane, into: retry.bytes(retry.count))
                if again < written {
                    room.baseAddress!.copyMemory(from: retry.pointer, byteCount: again)
                    written = again
                }
            }
            lengths.append(written)
            from += n
            to += written
        }
        return lengths
    }
}
