// A torch.save zip checkpoint (torch ≥ 1.6; torch/serialization.py, caffe2 inline_container.cc):
//   <prefix>/data.pkl       the pickle (protocol 2) of the state dict; tensors refer to storages by key
//   <prefix>/data/<key>     raw little-endian bytes of storage <key> (numel × element size)
//   <prefix>/byteorder      "little" or "big" (absent in older files: little)
//   <prefix>/version, .data/serialization_id, .format_version, .storage_alignment: not needed to read tensors
// The prefix is the folder of the FIRST entry (the file's basename when saved to a path, "archive" to a buffer).
import BloomCore

/// A torch zip checkpoint read without PyTorch: the state dict's tensors as views into the mapped file (stored
/// entries) or into inflated heap buffers (deflated entries). Non-contiguous tensors are gathered into the heap,
/// never past the size of their storage (a view that repeats elements is refused).
public struct TorchArchive: Sendable {
    public let path: String
    public let mapped: MappedFile
    /// The archive's top-level folder, e.g. `pytorch_model`.
    public let prefix: String
    /// The state dict's tensors in pickle order; `fileOffset` is the absolute offset of each tensor's first byte
    /// (entry data offset + storage offset × element size).
    public let tensors: [TensorView]
    /// What the pickle said about each tensor (storage key, offset, strides, location), parallel to `tensors`.
    public let records: [TorchTensorRecord]
    /// The archive's entries in central-directory order.
    public let entries: [Entry]

    /// One zip entry.
    public struct Entry: Sendable {
        public let name: String
        /// Absolute offset of the entry's (stored or deflated) data.
        public let dataOffset: Int
        /// Uncompressed size.
        public let size: Int
        public let isDeflated: Bool
    }

    /// Maps and reads `path`.
    /// - Throws: `BloomError` naming the file and the offending record, opcode, global or tensor.
    public init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    /// Reads an already mapped torch zip file.
    /// - Parameter headersOnly: leave deflated storages deflated; their views then have no readable bytes
    ///   (for `inspect`, which reads headers only: a small file cannot make it inflate gigabytes).
    public init(mapped: MappedFile, headersOnly: Bool = false) throws {
        self.mapped = mapped
        path = mapped.path
        do {
            (prefix, tensors, records, entries) = try Self.read(mapped, headersOnly: headersOnly)
        } catch let error as BloomError {
            throw error.at(path: mapped.path)
        }
    }

    private static func read(_ file: MappedFile, headersOnly: Bool) throws
        -> (String, [TensorView], [TorchTensorRecord], [Entry]) {
        let zip = try ZipArchive(file: file)
        guard let first = zip.entries.first else { throw BloomError(.torchMissingRecord, "the zip archive is empty") }
        guard let slash = first.name.firstIndex(of: "/") else {
            throw BloomError(.zipFormat, "first entry '\(first.name)' is not inside a folder, as torch.save writes")
        }
        let prefix = String(first.name[..<slash])
        var byName: [String: ZipArchive.Entry] = [:]
        for entry in zip.entries {
            // Two entries with one name would let two readers see two different files (a polyglot archive).
            guard byName.updateValue(entry, forKey: entry.name) == nil else {
                throw BloomError(.zipFormat, "entry '\(entry.name)' appears twice", location: "offset \(entry.localHeaderOffset)")
            }
        }
        func record(_ name: String) throws -> ZipArchive.Entry {
            guard let entry = byName[prefix + "/" + name] else {
                throw BloomError(.torchMissingRecord, "record '\(prefix)/\(name)' is missing from the archive")
            }
            return entry
        }

        if let order = byName[prefix + "/byteorder"] {
            guard order.uncompressedSize <= 16 else {
                throw BloomError(.zipFormat, "record '\(order.name)' is \(order.uncompressedSize) bytes, not \"little\" or \"big\"")
            }
            let bytes = try zip.contents(of: order)
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes.storage.bytes[bytes.range]), as: UTF8.self)
            guard text == "little" else {
                throw BloomError(.unsupported, "tensors are stored \(text)-endian; only little-endian files are read",
                                 location: "record '\(prefix)/byteorder'")
            }
        }

        let pickleEntry = try record("data.pkl")
        guard pickleEntry.uncompressedSize <= RestrictedUnpickler.maxPickleBytes else {
            throw BloomError(.limitExceeded, "record '\(pickleEntry.name)' is \(pickleEntry.uncompressedSize) bytes, past the limit of \(RestrictedUnpickler.maxPickleBytes) for a state-dict pickle")
        }
        let pickle = try zip.contents(of: pickleEntry)
        let stateDict: [(name: String, tensor: TorchTensorRecord)]
        do {
            stateDict = try RestrictedUnpickler.stateDict(from: UnsafeRawBufferPointer(rebasing: pickle.storage.bytes[pickle.range]))
        } catch let error as BloomError {
            var e = error
            e.location = "record '\(prefix)/data.pkl'" + (e.location.map { ", \($0)" } ?? "")
            throw e
        }

        // Each storage is read once, however many tensors share it (tied weights, views).
        struct Storage {
            let dtype: DType, elements: Int
            let bytes: ZipArchive.Contents
        }
        var storages: [String: Storage] = [:]
        var views: [TensorView] = []
        views.reserveCapacity(stateDict.count)
        for (name, t) in stateDict {
            let location = "tensor '\(name)'"
            guard let elementSize = t.dtype.byteSize else {
                throw BloomError(.torchTensor, "dtype \(t.dtype.rawValue) has no whole-byte size", location: location)
            }
            let s: Storage
            if let known = storages[t.storageKey] {
                guard known.dtype == t.dtype, known.elements == t.storageElements else {
                    throw BloomError(.torchTensor, "storage '\(t.storageKey)' is used as \(known.elements) × \(known.dtype.rawValue) and as \(t.storageElements) × \(t.dtype.rawValue)",
                                     location: location)
                }
                s = known
            } else {
                let entry = try record("data/" + t.storageKey)
                let bytes = try Checked.multiply(t.storageElements, elementSize, "byte size of storage '\(t.storageKey)'")
                guard entry.uncompressedSize == bytes else {
                    throw BloomError(.torchTensor, "record '\(entry.name)' holds \(entry.uncompressedSize) bytes but its storage is \(t.storageElements) × \(t.dtype.rawValue) = \(bytes) bytes",
                                     location: location)
                }
                s = Storage(dtype: t.dtype, elements: t.storageElements,
                            bytes: try zip.contents(of: entry, inflate: !headersOnly))
                storages[t.storageKey] = s
            }
            views.append(try view(name: name, t, elementSize: elementSize, s.bytes, file: file.path,
                                  gather: !(headersOnly && !s.bytes.inPlace)))
        }
        let entries = try zip.entries.map {
            Entry(name: $0.name, dataOffset: try zip.dataOffset(of: $0), size: $0.uncompressedSize, isDeflated: $0.method == 8)
        }
        return (prefix, views, stateDict.map(\.tensor), entries)
    }

    /// A view of `t` into its storage bytes: in place when contiguous, gathered into the heap otherwise.
    private static func view(name: String, _ t: TorchTensorRecord, elementSize: Int, _ bytes: ZipArchive.Contents,
                             file: String, gather canGather: Bool) throws -> TensorView {
        let (storage, range, fileOffset, inPlace) = (bytes.storage, bytes.range, bytes.fileOffset, bytes.inPlace)
        let location = "tensor '\(name)'"
        let count = try Checked.product(t.shape, "element count of tensor '\(name)'")
        let byteCount = try Checked.multiply(count, elementSize, "byte size of tensor '\(name)'")
        let startByte = try Checked.multiply(t.storageOffset, elementSize, "storage offset of tensor '\(name)'")
        // Inflated entries have no file position per byte: they report the entry's data offset.
        let offsetInFile = inPlace ? try Checked.add(fileOffset, startByte, "file offset of tensor '\(name)'") : fileOffset
        if count == 0 {
            return TensorView(name: name, dtype: t.dtype, shape: t.shape, storage: storage,
                              range: range.lowerBound..<range.lowerBound, file: file, fileOffset: offsetInFile)
        }
        // Highest element index touched: offset + Σ (size_i − 1) × stride_i.
        var last = t.storageOffset
        for (size, stride) in zip(t.shape, t.strides) {
            last = try Checked.add(last, Checked.multiply(size - 1, stride, "extent of tensor '\(name)'"), "extent of tensor '\(name)'")
        }
        guard last < t.storageElements else {
            throw BloomError(.torchTensor, "tensor reaches element \(last) of a storage of \(t.storageElements) elements",
                             location: location)
        }
        if isContiguous(shape: t.shape, strides: t.strides) {
            let start = range.lowerBound + startByte
            return TensorView(name: name, dtype: t.dtype, shape: t.shape, storage: storage,
                              range: start..<(start + byteCount), file: file, fileOffset: offsetInFile)
        }
        // A gather copies the view into the heap. A view that visits no element twice (a transpose, a slice)
        // holds at most its storage's elements, so the copy is bounded by the storage; one with more elements
        // repeats some (a stride-0 broadcast, overlapping strides) and would grow without bound from a tiny file.
        guard count <= t.storageElements else {
            throw BloomError(.torchTensor, "a non-contiguous view of \(count) elements over a storage of "
                             + "\(t.storageElements) repeats elements (strides \(t.strides)); such views are not "
                             + "expanded", location: location)
        }
        if !canGather {
            // Header-only storage: the view keeps its size; its bytes are never read.
            return TensorView(name: name, dtype: t.dtype, shape: t.shape, storage: storage,
                              range: range.lowerBound..<(range.lowerBound + byteCount), file: file,
                              fileOffset: offsetInFile)
        }
        let gathered = gather(t, elementSize: elementSize, byteCount: byteCount,
                              source: UnsafeRawBufferPointer(rebasing: storage.bytes[range]))
        return TensorView(name: name, dtype: t.dtype, shape: t.shape, storage: gathered, range: 0..<byteCount,
                          file: file, fileOffset: offsetInFile)
    }

    /// Row-major strides, ignoring dimensions of size 1 (whose stride never matters).
    static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).reversed() where size != 1 {
            if stride != expected { return false }
            expected *= size
        }
        return true
    }

    /// Copies a strided tensor into a contiguous heap buffer (all indices were bounds-checked by the caller).
    private static func gather(_ t: TorchTensorRecord, elementSize: Int, byteCount: Int, source: UnsafeRawBufferPointer) -> ByteStorage {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        guard let dstBase = out.baseAddress, let srcBase = source.baseAddress else {
            return ByteStorage(adopting: UnsafeMutableRawBufferPointer(rebasing: out[0..<0]))
        }
        let rank = t.shape.count
        var index = [Int](repeating: 0, count: rank)
        var src = t.storageOffset
        var dst = 0
        while dst < byteCount {
            (dstBase + dst).copyMemory(from: srcBase + src * elementSize, byteCount: elementSize)
            dst += elementSize
            // Odometer increment over the shape, innermost first.
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                src &+= t.strides[d]
                if index[d] < t.shape[d] { break }
                src &-= t.strides[d] &* t.shape[d]
                index[d] = 0
                d -= 1
            }
        }
        return ByteStorage(adopting: UnsafeMutableRawBufferPointer(rebasing: out[0..<byteCount]))
    }

    // MARK: formats refused

    /// The pre-1.6 format: a pickle stream that starts with torch's magic number (PROTO 2, LONG1 of 10 bytes), or an
    /// even older tar archive (`ustar` at offset 257).
    static func isLegacy(_ file: MappedFile) -> Bool {
        file.bytes.starts(with: [0x80, 0x02, 0x8A, 0x0A])
            || (file.count >= 262 && Array(file.bytes[257..<262]) == Array("ustar".utf8))
    }

    static func legacyFormatError(path: String) -> BloomError {
        BloomError(.torchLegacyFormat,
                   "this is a PyTorch file in the pre-1.6 (non-zip) format, which bloomkit does not read; re-save it with a recent torch: torch.save(torch.load(path), path) writes the zip format, or model.save_pretrained(dir, safe_serialization=True) writes safetensors",
                   path: path, location: "offset 0")
    }
}
