// A Hugging Face model folder read straight from its .bkz, so convert and merge never need the unpacked copy:
// the small files (config.json, tokenizer files, model card) are decoded into a scratch folder named like the
// packed one (so names derived from the folder, general.name and bloomkit.source, come out as for the unpacked
// folder), and each safetensors tensor is a stream that decodes its chunks as rows are read. Memory stays near one
// chunk per tensor being read; no weight byte is written to disk.
import BloomCheckpoint
import BloomCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A packed model folder opened for reading.
public struct PackedModel: Sendable {
    /// The model folder: config and tokenizer files in the scratch folder, weights as header-only views (their bytes
    /// are read through `tensors`, never through the views).
    public let folder: ModelFolder
    /// Every tensor of `folder.tensors`, same order and names, decoded from the archive as rows are read (checked
    /// chunk by chunk against the packed xxh64). The scratch folder lives as long as any of these.
    public let tensors: [SourceTensor]

    /// File names convert never decodes into the scratch folder: weights (the packed safetensors are streamed,
    /// other formats are refused).
    static let weightSuffixes = [".safetensors", ".bin", ".pt", ".pth", ".gguf", ".bkz", ".msgpack", ".h5"]

    /// Opens the .bkz at `path`, which must hold a model folder with config.json and safetensors weights.
    /// - Throws: the archive's `bkz-*` errors; `.unsupported` when it holds a single file, or PyTorch weights;
    ///   `.missingFile` without config.json or weights; safetensors and shard-index errors naming the packed file.
    public init(path: String) throws {
        let archive = try BKZArchive(path: path)
        let index = archive.index
        let packed = Dictionary(index.files.enumerated().map { ($1.path, $0) }, uniquingKeysWith: { a, _ in a })
        guard index.isFolder else {
            throw BloomError(.unsupported, "the .bkz holds the file '\(index.files.first?.path ?? "")', not a model "
                             + "folder (convert and merge read a packed Hugging Face model folder)", path: path)
        }
        guard packed["config.json"] != nil else {
            throw BloomError(.missingFile, "the .bkz holds no config.json: not a packed model folder", path: path)
        }
        guard let weights = ModelFolder.weightFileNames.first(where: { packed[$0] != nil }) else {
            throw BloomError(.missingFile, "the .bkz holds no weights (looked for "
                             + "\(ModelFolder.weightFileNames.joined(separator: ", ")))", path: path)
        }
        guard weights.hasPrefix("model.safetensors") else {
            throw BloomError(.unsupported, "the packed weights are PyTorch files ('\(weights)'), which are read only "
                             + "unpacked: run bloomkit unpack first", path: path)
        }

        let scratch = try ScratchFolder(named: Self.folderName(of: path))
        for (f, entry) in index.files.enumerated()
        where !Self.weightSuffixes.contains(where: { entry.path.hasSuffix($0) }) {
            try Self.extract(archive, file: f, to: Paths.join(scratch.path, entry.path), root: scratch.path)
        }
        let weightsPath = Paths.join(scratch.path, weights)
        let shards = try weights.hasSuffix(".json") ? ShardIndex(path: weightsPath) : nil
        var views: [TensorView] = []
        var tensors: [SourceTensor] = []
        for name in shards?.shardFiles ?? [weights] {
            guard let f = packed[name] else {
                throw BloomError(.missingFile, "shard '\(name)' listed in the index is not in the .bkz", path: path)
            }
            let shard = try PackedSafetensors(archive: archive, file: f, path: Paths.join(scratch.path, name))
            views += shard.views
            tensors += try shard.views.map { try shard.stream($0, keeping: scratch) }
        }
        let checkpoint = try Checkpoint(headerOnly: views, path: weightsPath, index: shards)
        folder = try ModelFolder(path: scratch.path, checkpoint: checkpoint)
        self.tensors = tensors
    }

    /// The packed folder's name: the .bkz's name without `.bkz` (`unpack`'s natural output name).
    static func folderName(of path: String) -> String {
        let base = Paths.basename(path)
        let stem = base.hasSuffix(".bkz") ? String(base.dropLast(4)) : base
        return stem.isEmpty || stem.hasPrefix(".") ? "model" : stem
    }

    /// Decodes packed file `f` (checked) to `target`, creating the folders of its relative path under `root`.
    static func extract(_ archive: BKZArchive, file f: Int, to target: String, root: String) throws {
        var at = root
        for part in archive.index.files[f].path.split(separator: "/").dropLast() {
            at += "/" + part
            if mkdir(at, 0o700) != 0, errno != EEXIST {
                throw BloomError(.io, "cannot create a folder: \(String(cString: strerror(errno)))", path: at)
            }
        }
        let out = try AtomicFile(destination: target)
        try archive.stream(file: f, threads: 1) { try out.write($0) }
        try out.commit()
    }
}

/// A temporary folder `<TMPDIR>/bloomkit-bkz-PID.XXXXXX/<name>`, removed with everything in it when the last
/// reference goes; one left by a process that died (a crash, SIGKILL, Ctrl-C) is removed by the next one made.
final class ScratchFolder: @unchecked Sendable {
    let path: String
    private let root: String
    static let prefix = "bloomkit-bkz-"

    init(named name: String) throws {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        Self.removeStale(in: tmp)
        var template = Array((tmp + "/" + Self.prefix + "\(getpid()).XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw BloomError(.io, "cannot create a scratch folder: \(String(cString: strerror(errno)))", path: tmp)
        }
        root = String(cString: made)
        path = root + "/" + name
        guard mkdir(path, 0o700) == 0 else {
            let reason = String(cString: strerror(errno))
            PackPaths.removeTree(root)
            throw BloomError(.io, "cannot create a scratch folder: \(reason)", path: path)
        }
    }

    deinit { PackPaths.removeTree(root) }

    /// Removes `bloomkit-bkz-PID.*` folders in `dir` whose process no longer exists.
    static func removeStale(in dir: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "." }), pid != getpid(),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            PackPaths.removeTree(dir + "/" + name)
        }
    }
}

/// One packed safetensors file: its header decoded and checked, each tensor mapped to the segment holding its bytes.
struct PackedSafetensors {
    let archive: BKZArchive
    let views: [TensorView]
    /// Segment index by the offset in the file where its bytes start.
    private let segmentAt: [Int: Int]

    init(archive: BKZArchive, file f: Int, path: String) throws {
        self.archive = archive
        let entry = archive.index.files[f]
        var offsets: [Int: Int] = [:]
        var at = 0
        for s in entry.segments {
            offsets[at] = s
            at += archive.index.segments[s].rawLength
        }
        segmentAt = offsets
        // The header is the file's first segment (the packer cuts it off at the first tensor).
        guard let first = entry.segments.first else {
            throw BloomError(.safetensorsHeaderLength, "packed file '\(entry.path)' is empty", path: archive.path)
        }
        // Decoded whole, so bounded as the reader bounds a header (a file packed as one segment would be all of it).
        let headLength = archive.index.segments[first].rawLength
        guard headLength <= 8 + SafetensorsFile.maxHeaderLength else {
            throw BloomError(.safetensorsHeaderTooLarge, "packed file '\(entry.path)' starts with a segment of "
                             + "\(headLength) bytes, past a safetensors header's limit of "
                             + "\(8 + SafetensorsFile.maxHeaderLength)", path: archive.path)
        }
        let head = try archive.segmentBytes(first)
        views = try head.withUnsafeBytes { try SafetensorsFile.headerViews($0, fileSize: entry.size, path: path) }
    }

    /// The rows of `view`, decoded from the segment that holds exactly its bytes.
    func stream(_ view: TensorView, keeping scratch: ScratchFolder) throws -> SourceTensor {
        guard view.byteCount > 0 else { return SourceTensor(view) }  // no bytes to read (the packer stores none)
        guard let s = segmentAt[view.fileOffset], archive.index.segments[s].rawLength == view.byteCount else {
            throw BloomError(.bkzBadIndex, "tensor '\(view.name)' at offset \(view.fileOffset) is not one packed "
                             + "segment of \(view.byteCount) bytes", path: archive.path)
        }
        let reader = try PackedTensorReader(archive: archive, segment: s, dtype: view.dtype, scratch: scratch)
        let rowLength = view.shape.count <= 1 ? 1 : view.shape.dropFirst().reduce(1, *)
        return SourceTensor(name: view.name, dtype: view.dtype, shape: view.shape) { start, count, dst in
            try reader.readFloats(elementOffset: start * rowLength, into: dst)
        }
    }
}

/// Decodes one tensor's chunks as its rows are read (from several threads: one decoded chunk is kept, under a lock,
/// since a row chunk rarely ends on a packed chunk's boundary; the buffers go once the tensor's end is read).
final class PackedTensorReader: @unchecked Sendable {
    private let archive: BKZArchive
    private let name: String
    private let dtype: DType
    private let elementSize: Int
    private let codec: BKZCodec
    private let chunks: [Int]
    /// Offset in the tensor's bytes where each chunk starts, plus the end.
    private let starts: [Int]
    private let scratch: ScratchFolder
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private var worker: UnpackWorker?
    private var buffer: ByteBuffer?
    private var cached = -1

    init(archive: BKZArchive, segment: Int, dtype: DType, scratch: ScratchFolder) throws {
        guard let size = dtype.byteSize, dtype.isFloatingPointWeight else {
            throw BloomError(.unsupported, "tensor '\(archive.index.segments[segment].name)' has dtype "
                             + "\(dtype.rawValue); only F32, F16 and BF16 can be read as floats", path: archive.path)
        }
        self.archive = archive
        name = archive.index.segments[segment].name
        self.dtype = dtype
        elementSize = size
        let storage = archive.index.storage(of: segment)
        codec = storage.codec
        chunks = Array(storage.chunks)
        var starts = [0]
        for c in chunks {
            let n = archive.index.chunks[c].rawLength
            // Chunks hold whole units of their codec; a zstd-coded float tensor's chunks must end on elements too.
            guard n % size == 0 else {
                throw BloomError(.bkzBadIndex, "chunk \(c) of tensor '\(name)' holds \(n) bytes, not whole "
                                 + "\(dtype.rawValue) elements", path: archive.path)
            }
            starts.append(starts[starts.count - 1] + n)
        }
        self.starts = starts
        self.scratch = scratch
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    /// Elements `[elementOffset, elementOffset + dst.count)` as f32.
    func readFloats(elementOffset: Int, into dst: UnsafeMutableBufferPointer<Float>) throws {
        let total = starts[starts.count - 1] / elementSize
        guard elementOffset >= 0, dst.count <= total, elementOffset <= total - dst.count else {
            throw BloomError(.outOfBounds, "elements [\(elementOffset), \(elementOffset + dst.count)) of tensor "
                             + "'\(name)' are past its \(total) elements", path: archive.path)
        }
        guard let out = dst.baseAddress, !dst.isEmpty else { return }
        var from = elementOffset * elementSize
        let end = from + dst.count * elementSize
        // The last chunk starting at or before `from` (binary search: an embedding has thousands of chunks).
        var (low, high) = (0, starts.count - 1)
        while high - low > 1 {
            let mid = (low + high) / 2
            if starts[mid] <= from { low = mid } else { high = mid }
        }
        var k = low
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while from < end {
            let bytes = try decoded(k)
            let upTo = min(end, starts[k + 1])
            Precision.toFloat(dtype, bytes + (from - starts[k]), out + (from / elementSize - elementOffset),
                              (upTo - from) / elementSize)
            from = upTo
            k += 1
        }
        if end == starts[starts.count - 1] {
            // Read to its end: a model streams each tensor once, so the buffers go (and come back if read again).
            (worker, buffer, cached) = (nil, nil, -1)
        }
    }

    /// Chunk `k` of the tensor, decoded and checked (under the lock).
    private func decoded(_ k: Int) throws -> UnsafeRawPointer {
        let c = chunks[k]
        let chunk = archive.index.chunks[c]
        if worker == nil {
            let maxChunk = zip(starts, starts.dropFirst()).map { $1 - $0 }.max() ?? 0
            worker = try UnpackWorker(maxChunk: maxChunk)
            buffer = ByteBuffer(count: maxChunk)
        }
        guard let worker, let buffer else { throw BloomError(.io, "no decode buffer", path: archive.path) }
        if cached != c {
            cached = -1
            do {
                try archive.decode(chunk: c, codec: codec, into: buffer.bytes(chunk.rawLength), worker: worker)
            } catch let e as BloomError {
                throw BloomError(e.code, e.message, path: archive.path,
                                 location: "tensor '\(name)', " + (e.location ?? ""), cause: e.cause)
            }
            archive.file.advise(.dontNeed, offset: chunk.storedOffset, length: chunk.storedLength)
            cached = c
        }
        return UnsafeRawPointer(buffer.pointer)
    }
}
