import BloomCore

/// Writes a GGUF v3 file as a stream, never holding the model in memory (ggml gguf.h "writing gguf files"):
/// the caller declares every tensor (name, type, ne) and the metadata up front; the writer lays the tensors out
/// (packed, each padded to the alignment), writes the header, then takes each tensor's bytes in declaration order,
/// in chunks of any size that do not cross a tensor's end. It pads with zeros after every tensor, the last one
/// included. Output goes to a temporary file that `commit()` fsyncs and renames into place.
///
/// With `checksumKey`, the writer adds that key as an ARRAY[UINT64] holding the XXH64 of each tensor's bytes in
/// tensor order; it is reserved in the header and filled in at `commit()` (same size, so no offset moves).
public final class GGUFWriter {
    public let path: String
    /// Tensors with their data offsets, in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int
    /// XXH64 of each finished tensor's bytes.
    public private(set) var checksums: [UInt64] = []

    private let output: AtomicFile
    private let checksumPayloadOffset: Int?
    private var current = 0
    private var currentWritten = 0
    private var hasher = XXHash64()

    /// Validates the declaration and writes the header.
    /// - Parameters:
    ///   - path: the destination (written under a temporary name until `commit()`).
    ///   - metadata: KVs in the order to write them; `general.alignment`, if present, must be a UINT32 power of two.
    ///   - tensors: declarations (their `offset` is ignored and recomputed).
    ///   - checksumKey: a key to hold per-tensor XXH64 checksums (must not already be in `metadata`).
    /// - Throws: `.ggufDuplicateTensor`, `.ggufBadAlignment`, `.ggufDuplicateKey`, or `.io`.
    public init(path: String, metadata: GGUFMetadata, tensors: [GGUFTensorInfo], checksumKey: String? = nil) throws {
        self.path = path
        var metadata = metadata
        if let checksumKey, !tensors.isEmpty {
            try metadata.append(checksumKey, .array(.uint64([UInt64](repeating: 0, count: tensors.count))))
        }
        alignment = try GGUFLimits.alignment(of: metadata)
        var names = Set<String>()
        var laidOut: [GGUFTensorInfo] = []
        var offset = 0
        for var t in tensors {
            guard names.insert(t.name).inserted else {
                throw BloomError(.ggufDuplicateTensor, "duplicate tensor name '\(t.name)'", path: path)
            }
            t.offset = offset
            laidOut.append(t)
            offset = try GGUFLimits.pad(Checked.add(offset, t.byteCount, "data size"), alignment)
        }
        self.tensors = laidOut
        var encoder = GGUFEncoder()
        encoder.header(metadata: metadata, tensors: laidOut)
        dataOffset = try GGUFLimits.pad(encoder.bytes.count, alignment)
        // past elem type + count
        checksumPayloadOffset = checksumKey.flatMap { encoder.valueOffsets[$0] }.map { $0 + 4 + 8 }
        output = try AtomicFile(destination: path)
        try output.write(encoder.bytes)
        try output.writeZeros(dataOffset - encoder.bytes.count)
        try skipEmptyTensors()
    }

    /// The tensor whose bytes come next (nil when all are written).
    public var currentTensor: GGUFTensorInfo? { current < tensors.count ? tensors[current] : nil }

    /// Appends the next bytes of the current tensor; when it is complete, pads it and moves to the next.
    /// - Throws: `.ggufWriteMismatch` if the chunk runs past the current tensor's declared size or all tensors are
    ///   written.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let t = currentTensor else {
            throw BloomError(.ggufWriteMismatch, "\(bytes.count) more bytes after the last tensor", path: path)
        }
        guard bytes.count <= t.byteCount - currentWritten else {
            throw BloomError(.ggufWriteMismatch,
                             "tensor '\(t.name)' was declared as \(t.byteCount) bytes; " +
                             "\(currentWritten + bytes.count) were written",
                             path: path)
        }
        try output.write(bytes)
        hasher.update(bytes)
        currentWritten += bytes.count
        if currentWritten == t.byteCount { try finishTensor() }
    }

    /// Writes a whole tensor named `name`, which must be the current one.
    public func write(tensorNamed name: String, _ bytes: UnsafeRawBufferPointer) throws {
        guard let t = currentTensor, t.name == name, currentWritten == 0 else {
            throw BloomError(.ggufWriteMismatch,
                             "tensor '\(name)' written out of order (expected '\(currentTensor?.name ?? "none")')",
                             path: path)
        }
        guard bytes.count == t.byteCount else {
            throw BloomError(.ggufWriteMismatch,
                             "tensor '\(name)' was declared as \(t.byteCount) bytes; got \(bytes.count)", path: path)
        }
        try write(bytes)
    }

    private func finishTensor() throws {
        let t = tensors[current]
        try output.writeZeros(try GGUFLimits.pad(t.byteCount, alignment) - t.byteCount)
        checksums.append(hasher.digest())
        hasher = XXHash64()
        current += 1
        currentWritten = 0
        try skipEmptyTensors()
    }

    /// Zero-byte tensors are complete as soon as they are reached.
    private func skipEmptyTensors() throws {
        if let t = currentTensor, t.byteCount == 0 { try finishTensor() }
    }

    /// Fills in the checksums, then fsyncs and renames the file into place.
    /// - Throws: `.ggufWriteMismatch` if a tensor is incomplete; `.io`.
    public func commit() throws {
        if let t = currentTensor {
            throw BloomError(.ggufWriteMismatch,
                             "tensor '\(t.name)' has \(currentWritten) of its \(t.byteCount) bytes; " +
                             "\(tensors.count - current) tensors unwritten",
                             path: path)
        }
        if let at = checksumPayloadOffset {
            var encoder = GGUFEncoder()
            for c in checksums { encoder.int(c) }
            try encoder.bytes.withUnsafeBytes { try output.overwrite(at: at, $0) }
        }
        try output.commit()
    }

    /// Removes the temporary file.
    public func abort() { output.abort() }

    /// Bytes written so far (header included).
    public var bytesWritten: Int { output.bytesWritten }
}
