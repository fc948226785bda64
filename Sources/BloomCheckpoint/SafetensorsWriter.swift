import BloomCore

/// Writes safetensors files from row-streamed tensors, the way the reference writer lays them out:
/// 8-byte little-endian header length, compact JSON header with `__metadata__` first, padded with spaces to a
/// multiple of 8, then the tensors' bytes back to back in the order given. The header is computed up front from
/// shapes and dtypes, so the data streams in row chunks and never sits in memory whole.
public enum SafetensorsWriter {
    /// One tensor to write: its source (rows read as f32) and the dtype to store (F32, F16 or BF16).
    public struct Entry: Sendable {
        public var tensor: SourceTensor
        public var dtype: DType

        public init(_ tensor: SourceTensor, as dtype: DType) {
            self.tensor = tensor
            self.dtype = dtype
        }

        /// Bytes of the stored data.
        public func byteCount() throws -> Int { try dtype.byteCount(shape: tensor.shape) }
    }

    /// The metadata transformers expects (`load_state_dict` refuses other formats).
    public static let defaultMetadata: [(String, String)] = [("format", "pt")]

    /// f32 elements converted per chunk: 16 MiB of floats, whatever the tensor's row length.
    public static let defaultChunkElements = 4 << 20

    /// The file's first bytes: header length, then the JSON header padded with spaces to a multiple of 8.
    /// - Throws: `invalidArgument` for a dtype other than F32/F16/BF16 or a shape whose size overflows.
    public static func header(for entries: [Entry], metadata: [(String, String)] = defaultMetadata) throws -> [UInt8] {
        var pairs: [(String, JSONValue)] = []
        if !metadata.isEmpty {
            pairs.append(("__metadata__", .object(metadata.map { ($0.0, .string($0.1)) })))
        }
        var offset = 0
        var seen = Set<String>()
        for entry in entries {
            guard entry.dtype.isFloatingPointWeight else {
                throw BloomError(.invalidArgument,
                                 "cannot store '\(entry.tensor.name)' as \(entry.dtype.rawValue); only F32, F16 and " +
                                 "BF16 are written")
            }
            guard seen.insert(entry.tensor.name).inserted, entry.tensor.name != "__metadata__" else {
                throw BloomError(.invalidArgument, "tensor name '\(entry.tensor.name)' appears twice or is reserved")
            }
            let end = try Checked.add(offset, entry.byteCount(), "data offset of '\(entry.tensor.name)'")
            pairs.append((entry.tensor.name, .object([
                ("dtype", .string(entry.dtype.rawValue)),
                ("shape", .array(entry.tensor.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(end)])),
            ])))
            offset = end
        }
        var json = Array(JSONWriter.string(.object(pairs)).utf8)
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes += $0 }
        return bytes + json
    }

    /// Total file size for `entries` (header included).
    public static func fileSize(for entries: [Entry], metadata: [(String, String)] = defaultMetadata) throws -> Int {
        var total = try header(for: entries, metadata: metadata).count
        for entry in entries { total = try Checked.add(total, entry.byteCount(), "file size") }
        return total
    }

    /// Streams `entries` into `file` (header, then each tensor in row chunks). Does not commit: a caller writing
    /// several files commits them together at the end.
    /// - Parameters:
    ///   - progress: called after each chunk with the data bytes just written and whether that chunk ended a tensor.
    /// - Throws: what reading a tensor or writing the file throws (the caller aborts `file`).
    public static func write(_ entries: [Entry], to file: AtomicFile, metadata: [(String, String)] = defaultMetadata,
                             chunkElements: Int = defaultChunkElements,
                             progress: (_ bytes: Int, _ finishedTensor: Bool) -> Void = { _, _ in }) throws {
        try file.write(header(for: entries, metadata: metadata))
        // Whole rows per chunk (rows are what SourceTensor reads): at least the longest row.
        let longestRow = entries.map { $0.tensor.rowLength }.max() ?? 1
        let largest = entries.map { $0.tensor.elementCount }.max() ?? 1
        let capacity = max(1, longestRow, min(chunkElements, largest))
        let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: capacity)
        defer { floats.deallocate() }
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity * 4, alignment: 64)
        defer { bytes.deallocate() }
        for entry in entries {
            let tensor = entry.tensor
            guard tensor.elementCount > 0, let src = floats.baseAddress, let dst = bytes.baseAddress else {
                progress(0, true)
                continue
            }
            let rowLength = tensor.rowLength
            let elementSize = entry.dtype.bitSize / 8
            let rowsPerChunk = capacity / rowLength
            var row = 0
            while row < tensor.rowCount {
                let n = min(rowsPerChunk, tensor.rowCount - row)
                let count = n * rowLength
                try tensor.readRows(row, n, UnsafeMutableBufferPointer(rebasing: floats[0..<count]))
                Precision.fromFloat(entry.dtype, src, dst, count)
                try file.write(UnsafeRawBufferPointer(start: dst, count: count * elementSize))
                row += n
                progress(count * elementSize, row == tensor.rowCount)
            }
        }
    }

    /// Writes one complete safetensors file atomically (temporary name, then renamed into place).
    public static func write(_ entries: [Entry], toPath path: String, metadata: [(String, String)] = defaultMetadata,
                             progress: (_ bytes: Int, _ finishedTensor: Bool) -> Void = { _, _ in }) throws {
        let file = try AtomicFile(destination: path)
        do {
            try write(entries, to: file, metadata: metadata, progress: progress)
            try file.commit()
        } catch {
            file.abort()
            throw error
        }
    }
}
