// safetensors, as the reference reader (huggingface/safetensors tensor.rs) defines it:
//   bytes 0..<8      N, u64 little-endian: header length
//   bytes 8..<8+N    UTF-8 JSON object: name -> {"dtype": "F16", "shape": [d0, …], "data_offsets": [BEGIN, END]},
//                    plus an optional "__metadata__": {string: string}; may be right-padded with spaces
//   bytes 8+N..<EOF  the data buffer; a tensor's bytes are [8+N+BEGIN, 8+N+END), little-endian, row-major
// Checks (each at least as strict as the reference): N ≤ 100,000,000; 8+N within the file; well-formed JSON without
// duplicate keys; sorted by data_offsets the entries tile the buffer from 0 with no gap or overlap and END ≥ BEGIN;
// END−BEGIN = product(shape) × dtype size (overflow-checked, whole bytes); last END + 8 + N = file size.
import BloomCore

/// One `.safetensors` file, memory-mapped; its tensors are zero-copy views into the mapping.
public struct SafetensorsFile: Sendable {
    /// The reference reader's bound: a header past 100 MB is refused before it is parsed (it would be parsed in
    /// memory).
    public static let maxHeaderLength = 100_000_000

    public let path: String
    public let mapped: MappedFile
    /// N: the JSON header's byte length (the data buffer starts at 8 + N).
    public let headerLength: Int
    /// `__metadata__` in file order (string → string only; anything else is refused, as the reference does).
    public let metadata: [(key: String, value: String)]
    /// Every tensor, in file order (ascending data offset).
    public let tensors: [TensorView]

    /// Maps and validates `path`.
    /// - Throws: `BloomError` with a `safetensors-*` code naming the file, the tensor and the offset; `.io` when the
    ///   file cannot be opened.
    public init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    /// Validates an already mapped file.
    public init(mapped: MappedFile) throws {
        self.mapped = mapped
        self.path = mapped.path
        do {
            (headerLength, metadata, tensors) = try Self.parse(mapped.bytes, fileSize: mapped.count,
                                                               storage: ByteStorage(mapped: mapped), path: mapped.path)
        } catch let error as BloomError {
            throw error.at(path: mapped.path)
        }
    }

    /// The tensors of a safetensors file of `fileSize` bytes whose bytes are not at hand (a packed file), read from
    /// its first bytes alone and checked as `init(mapped:)` checks them: header-only views (storage that is never
    /// read) giving each tensor's name, dtype, shape and place in the file.
    /// - Parameter prefix: the file's first bytes: at least the 8-byte length and the header it announces.
    /// - Throws: the `safetensors-*` errors of `init(mapped:)`, naming `path`.
    public static func headerViews(_ prefix: UnsafeRawBufferPointer, fileSize: Int,
                                   path: String) throws -> [TensorView] {
        do {
            return try parse(prefix, fileSize: fileSize, storage: ByteStorage(unreadable: fileSize), path: path).2
        } catch let error as BloomError {
            throw error.at(path: path)
        }
    }

    /// Reads only the header (in `bytes`, the file's first bytes) and builds views into `storage`; no tensor byte is
    /// touched.
    private static func parse(_ bytes: UnsafeRawBufferPointer, fileSize: Int, storage: ByteStorage,
                              path: String) throws -> (Int, [(key: String, value: String)], [TensorView]) {
        guard fileSize >= 8, bytes.count >= 8 else {
            throw BloomError(.safetensorsHeaderLength,
                             "file is \(fileSize) bytes, shorter than the 8-byte header length",
                             location: "offset 0")
        }
        var reader = ByteReader(bytes)
        let n64 = try reader.read(UInt64.self, "header length")
        guard n64 <= UInt64(maxHeaderLength) else {
            throw BloomError(.safetensorsHeaderTooLarge,
                             "header length \(n64) is past the limit of \(maxHeaderLength) bytes", location: "offset 0")
        }
        let n = Int(n64)
        guard n <= fileSize - 8, n <= bytes.count - 8 else {
            throw BloomError(.safetensorsHeaderLength,
                             "header of \(n) bytes ends at \(8 + n), past the file's \(fileSize) bytes",
                             location: "offset 0")
        }
        let json: JSONValue
        do {
            json = try JSONParser().parse(try reader.readBytes(n, "header"))
        } catch let error as BloomError {
            throw BloomError(.safetensorsHeader, "header is not valid JSON: \(error.message)",
                             location: error.location.map { "header \($0)" }, cause: error)
        }
        guard let entries = json.object else {
            throw BloomError(.safetensorsHeader, "header is not a JSON object", location: "offset 8")
        }

        let dataStart = 8 + n
        var metadata: [(key: String, value: String)] = []
        var infos: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        infos.reserveCapacity(entries.count)
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let pairs = value.object else {
                    throw BloomError(.safetensorsHeader, "__metadata__ is not an object of strings",
                                     location: "__metadata__")
                }
                for (key, v) in pairs {
                    guard let s = v.string else {
                        throw BloomError(.safetensorsHeader, "__metadata__ value of '\(key)' is not a string",
                                         location: "__metadata__")
                    }
                    metadata.append((key, s))
                }
                continue
            }
            let info = try tensorInfo(name: name, value)
            infos.append((name, info.dtype, info.shape, info.begin, info.end))
        }

        // The reference sorts by (BEGIN, END) and walks: each BEGIN must be the previous END, END ≥ BEGIN.
        infos.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expectedBegin = 0
        var views: [TensorView] = []
        views.reserveCapacity(infos.count)
        for info in infos {
            let location = "tensor '\(info.name)'"
            guard info.begin == expectedBegin else {
                let what = info.begin < expectedBegin
                    ? "overlaps the previous tensor" : "leaves a gap after the previous tensor"
                throw BloomError(.safetensorsOffsets,
                                 "data_offsets [\(info.begin), \(info.end)] \(what), which ends at \(expectedBegin)",
                                 location: location)
            }
            guard info.end >= info.begin else {
                throw BloomError(.safetensorsOffsets, "data_offsets [\(info.begin), \(info.end)] end before they begin",
                                 location: location)
            }
            let byteCount: Int
            do {
                byteCount = try info.dtype.byteCount(shape: info.shape)
            } catch let error as BloomError {
                throw BloomError(.safetensorsTensorSize, error.message, location: location)
            }
            guard info.end - info.begin == byteCount else {
                throw BloomError(.safetensorsTensorSize,
                                 "data_offsets [\(info.begin), \(info.end)] hold \(info.end - info.begin) bytes but " +
                                 "\(info.dtype.rawValue) \(info.shape) needs \(byteCount)",
                                 location: location)
            }
            let start = try Checked.add(dataStart, info.begin, "offset of tensor '\(info.name)'")
            let end = try Checked.add(dataStart, info.end, "end of tensor '\(info.name)'")
            guard end <= fileSize else {
                throw BloomError(.safetensorsIncompleteBuffer,
                                 "tensor ends at \(end), past the file's \(fileSize) bytes", location: location)
            }
            views.append(TensorView(name: info.name, dtype: info.dtype, shape: info.shape, storage: storage,
                                    range: start..<end, file: path, fileOffset: start))
            expectedBegin = info.end
        }
        let dataEnd = try Checked.add(dataStart, expectedBegin, "end of the data buffer")
        guard dataEnd == fileSize else {
            throw BloomError(.safetensorsIncompleteBuffer,
                             "tensor data ends at \(dataEnd) but the file has \(fileSize) bytes " +
                             "(\(fileSize - dataEnd) unaccounted for)",
                             location: "offset \(dataEnd)")
        }
        return (n, metadata, views)
    }

    /// One header entry: `{"dtype": …, "shape": […], "data_offsets": [BEGIN, END]}` (other keys are ignored, as the
    /// reference's serde struct does).
    private static func tensorInfo(name: String,
                                   _ value: JSONValue) throws -> (dtype: DType, shape: [Int], begin: Int, end: Int) {
        let location = "tensor '\(name)'"
        guard value.object != nil else {
            throw BloomError(.safetensorsHeader, "entry is not an object", location: location)
        }
        guard let dtypeName = value["dtype"]?.string else {
            throw BloomError(.safetensorsHeader, "entry has no string 'dtype'", location: location)
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw BloomError(.safetensorsHeader, "unknown dtype '\(dtypeName)'", location: location)
        }
        guard let shapeValues = value["shape"]?.array else {
            throw BloomError(.safetensorsHeader, "entry has no 'shape' array", location: location)
        }
        let shape = try shapeValues.map { try unsignedInt($0, "shape dimension", location) }
        guard let offsets = value["data_offsets"]?.array, offsets.count == 2 else {
            throw BloomError(.safetensorsHeader, "entry has no 'data_offsets' pair", location: location)
        }
        return (dtype, shape, try unsignedInt(offsets[0], "data_offsets begin", location),
                try unsignedInt(offsets[1], "data_offsets end", location))
    }

    /// A non-negative integer literal (no fraction, no exponent) that fits an Int.
    private static func unsignedInt(_ value: JSONValue, _ what: String, _ location: String) throws -> Int {
        guard let v = value.uint64 else {
            throw BloomError(.safetensorsHeader, "\(what) is not a non-negative integer", location: location)
        }
        do {
            return try Checked.int(v, what)
        } catch let error as BloomError {
            throw BloomError(.safetensorsHeader, error.message, location: location)
        }
    }
}
