import BloomCore

// GGUF v3 (ggml docs/gguf.md), little-endian:
//   magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count × { string key | u32 value_type | value }        string = u64 length + UTF-8 bytes (no NUL)
//                                                             array  = u32 elem_type + u64 count + elements
//   tensor_count × { string name | u32 n_dims | n_dims × u64 ne | u32 ggml_type | u64 offset }
//   zero padding to ALIGNMENT (general.alignment, default 32), then the data section:
//   tensors in info order, offset[i] = Σ_{j<i} PAD(nbytes[j]), each padded with zeros to ALIGNMENT.
// Every count, length and offset is checked against the bytes left in the file before it is used, so a
// hostile header can neither allocate past the file's size nor read outside it.

/// A GGUF file, mapped read-only and fully validated when opened: metadata in file order, tensors in info order,
/// each tensor a zero-copy view of the mapping.
public final class GGUFFile: Sendable {
    /// The mapping; tensors' bytes point into it.
    public let file: MappedFile
    public var path: String { file.path }
    /// 3 (or 2).
    public let version: UInt32
    public let metadata: GGUFMetadata
    /// Tensors in the order of the file's tensor infos (which is also their order in the data section).
    public let tensors: [GGUFTensor]
    /// Alignment of the data section and tensors (from `general.alignment`, default 32).
    public let alignment: Int
    /// Absolute offset of the data section (the end of the header, padded to `alignment`).
    public let dataOffset: Int
    /// Bytes of header before padding: magic, counts, KVs and tensor infos.
    public let headerByteCount: Int
    private let index: [String: Int]

    /// Maps and validates the file at `path`.
    /// - Throws: `BloomError` with a `gguf-*` code naming the problem and its offset; `.io` if it cannot be read.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Validates an already mapped file.
    public init(file: MappedFile) throws {
        self.file = file
        do {
            var parser = Parser(ByteReader(file.bytes))
            let header = try parser.parseHeader()
            version = header.version
            metadata = header.metadata
            alignment = try GGUFLimits.alignment(of: header.metadata)
            headerByteCount = parser.reader.offset
            dataOffset = try GGUFLimits.pad(headerByteCount, alignment)
            var views: [GGUFTensor] = []
            views.reserveCapacity(header.tensors.count)
            var expected = 0
            for (info, at) in header.tensors {
                guard info.offset == expected else {
                    let why = info.offset % alignment != 0 ? "is not a multiple of the alignment \(alignment)"
                        : "is not where the packed data puts it, \(expected)"
                    throw BloomError(.ggufBadOffset,
                                     "tensor '\(info.name)' has data offset \(info.offset), which \(why)",
                                     location: "offset \(at)")
                }
                let start = try Checked.add(dataOffset, info.offset, "tensor '\(info.name)' start")
                let end = try Checked.add(start, info.byteCount, "tensor '\(info.name)' end")
                guard end <= file.count else {
                    throw BloomError(.ggufDataPastEnd,
                                     "tensor '\(info.name)' ends at \(end), past the file's \(file.count) bytes",
                                     location: "offset \(at)")
                }
                views.append(GGUFTensor(info: info, fileOffset: start, file: file))
                expected = try GGUFLimits.pad(try Checked.add(info.offset, info.byteCount, "data size"), alignment)
            }
            tensors = views
            index = Dictionary(uniqueKeysWithValues: views.enumerated().map { ($1.name, $0) })
        } catch let error as BloomError {
            throw error.at(path: file.path)
        }
    }

    /// The value of `key`, nil if absent.
    public func value(_ key: String) -> GGUFValue? { metadata[key] }

    /// The tensor named `name`, nil if absent.
    public func tensor(named name: String) -> GGUFTensor? { index[name].map { tensors[$0] } }

    /// The tensor named `name`, or `.ggufMissingTensor`.
    public func requireTensor(named name: String) throws -> GGUFTensor {
        guard let t = tensor(named: name) else {
            throw BloomError(.ggufMissingTensor, "tensor '\(name)' is missing", path: path)
        }
        return t
    }

    /// The bytes of `tensor` (a view of the mapping).
    public func data(of tensor: GGUFTensor) -> UnsafeRawBufferPointer { tensor.bytes }

    /// Total bytes of tensor data, padding included (file size minus header).
    public var dataByteCount: Int { file.count - dataOffset }
}

/// The header parser: a `ByteReader` plus GGUF's types and limits.
struct Parser {
    var reader: ByteReader

    init(_ reader: ByteReader) { self.reader = reader }

    struct Header {
        var version: UInt32
        var metadata: GGUFMetadata
        /// Each info with the offset of its record (for error messages).
        var tensors: [(GGUFTensorInfo, Int)]
    }

    private var here: String { "offset \(reader.offset)" }

    mutating func parseHeader() throws -> Header {
        guard reader.remaining >= 4 else {
            throw BloomError(.ggufBadMagic, "not a GGUF file: \(reader.remaining) bytes, too short for the magic")
        }
        let magic = try reader.read(UInt32.self, "magic")
        guard magic == GGUFLimits.magic else {
            throw BloomError(.ggufBadMagic,
                             "not a GGUF file: magic is 0x\(String(magic, radix: 16)), expected " +
                             "0x\(String(GGUFLimits.magic, radix: 16)) (\"GGUF\")",
                             location: "offset 0")
        }
        let version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            let note = version & 0xFFFF == 0 ? " (a big-endian file?)" : ""
            throw BloomError(.ggufBadVersion, "GGUF version \(version) is not supported, only 2 and 3\(note)",
                             location: "offset 4")
        }
        let tensorCount = try readCount("tensor count", minimumRecordSize: 8 + 4 + 4 + 8)
        let kvCount = try readCount("metadata count", minimumRecordSize: 8 + 4 + 1)

        var metadata = GGUFMetadata()
        for _ in 0..<kvCount {
            let at = reader.offset
            let key = try readString("key")
            guard !metadata.contains(key) else {
                throw BloomError(.ggufDuplicateKey, "duplicate key '\(key)'", location: "offset \(at)")
            }
            let type = try readValueType("value type of key '\(key)'")
            let value = try readValue(type, key: key)
            try metadata.append(key, value)
        }

        var tensors: [(GGUFTensorInfo, Int)] = []
        tensors.reserveCapacity(tensorCount)
        var names = Set<String>()
        for i in 0..<tensorCount {
            let at = reader.offset
            let name = try readString("name of tensor \(i)")
            guard name.utf8.count <= GGUFLimits.maxNameBytes else {
                throw BloomError(.ggufNameTooLong,
                                 "tensor name '\(name)' has \(name.utf8.count) bytes, more than the " +
                                 "\(GGUFLimits.maxNameBytes) ggml allows",
                                 location: "offset \(at)")
            }
            guard names.insert(name).inserted else {
                throw BloomError(.ggufDuplicateTensor, "duplicate tensor name '\(name)'", location: "offset \(at)")
            }
            let nDims = try reader.read(UInt32.self, "dimension count of '\(name)'")
            guard nDims <= UInt32(GGUFLimits.maxDimensions) else {
                throw BloomError(.ggufTooManyDims,
                                 "tensor '\(name)' has \(nDims) dimensions, more than \(GGUFLimits.maxDimensions)",
                                 location: "offset \(at)")
            }
            var ne: [Int] = []
            for d in 0..<Int(nDims) {
                let v = try reader.read(Int64.self, "ne[\(d)] of '\(name)'")
                guard v >= 0 else {
                    throw BloomError(.ggufBadShape, "tensor '\(name)' has ne[\(d)] = \(v), negative",
                                     location: "offset \(at)")
                }
                ne.append(Int(v))
            }
            let rawType = try reader.read(UInt32.self, "type of '\(name)'")
            guard let type = GGMLType(rawValue: rawType) else {
                throw BloomError(.ggufBadTensorType,
                                 "tensor '\(name)' has ggml type \(rawType), which is unknown or removed",
                                 location: "offset \(at)")
            }
            let rawOffset = try reader.read(UInt64.self, "offset of '\(name)'")
            guard rawOffset <= UInt64(Int.max) else {
                throw BloomError(.ggufBadOffset, "tensor '\(name)' has data offset \(rawOffset), past any file",
                                 location: "offset \(at)")
            }
            do {
                tensors.append((try GGUFTensorInfo(name: name, type: type, ne: ne, offset: Int(rawOffset)), at))
            } catch var error as BloomError {
                error.location = "offset \(at)"
                throw error
            }
        }
        return Header(version: version, metadata: metadata, tensors: tensors)
    }

    /// A u64 count whose records (each at least `minimumRecordSize` bytes) must fit in the bytes left.
    private mutating func readCount(_ what: String, minimumRecordSize: Int) throws -> Int {
        let at = reader.offset
        let raw = try reader.read(UInt64.self, what)
        guard raw <= UInt64(reader.remaining / minimumRecordSize) else {
            throw BloomError(.ggufCountPastEnd,
                             "\(what) \(raw) cannot fit in the \(reader.remaining) bytes left (each needs at least " +
                             "\(minimumRecordSize))",
                             location: "offset \(at)")
        }
        return Int(raw)
    }

    private mutating func readValueType(_ what: String) throws -> GGUFValueType {
        let at = reader.offset
        let raw = try reader.read(UInt32.self, what)
        guard let type = GGUFValueType(rawValue: raw) else {
            throw BloomError(.ggufBadValueType, "\(what) is \(raw), not one of GGUF's 13 value types (0…12)",
                             location: "offset \(at)")
        }
        return type
    }

    mutating func readString(_ what: String) throws -> String {
        let at = reader.offset
        let raw = try reader.read(UInt64.self, "length of \(what)")
        guard raw <= UInt64(reader.remaining) else {
            throw BloomError(.ggufStringPastEnd,
                             "\(what) has length \(raw), past the \(reader.remaining) bytes left in the file",
                             location: "offset \(at)")
        }
        let bytes = try reader.readBytes(Int(raw), what)
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw BloomError(.ggufBadString, "\(what) is not valid UTF-8", location: "offset \(at)")
        }
        return s
    }

    private mutating func readBool(_ key: String) throws -> Bool {
        let at = reader.offset
        let b = try reader.read(UInt8.self, "value of '\(key)'")
        guard b <= 1 else {
            throw BloomError(.ggufBadValue, "key '\(key)' has bool byte \(b), expected 0 or 1",
                             location: "offset \(at)")
        }
        return b == 1
    }

    private mutating func readValue(_ type: GGUFValueType, key: String) throws -> GGUFValue {
        let what = "value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try reader.read(UInt8.self, what))
        case .int8: return .int8(try reader.read(Int8.self, what))
        case .uint16: return .uint16(try reader.read(UInt16.self, what))
        case .int16: return .int16(try reader.read(Int16.self, what))
        case .uint32: return .uint32(try reader.read(UInt32.self, what))
        case .int32: return .int32(try reader.read(Int32.self, what))
        case .float32: return .float32(Float(bitPattern: try reader.read(UInt32.self, what)))
        case .bool: return .bool(try readBool(key))
        case .string: return .string(try readString(what))
        case .uint64: return .uint64(try reader.read(UInt64.self, what))
        case .int64: return .int64(try reader.read(Int64.self, what))
        case .float64: return .float64(Double(bitPattern: try reader.read(UInt64.self, what)))
        case .array: return .array(try readArray(key: key))
        }
    }

    private mutating func readArray(key: String) throws -> GGUFArray {
        let at = reader.offset
        let elementType = try readValueType("element type of array '\(key)'")
        guard elementType != .array else {
            throw BloomError(.ggufNestedArray, "key '\(key)' is an array of arrays, which GGUF does not allow",
                             location: "offset \(at)")
        }
        let count = try readCount("element count of array '\(key)'", minimumRecordSize: elementType.minimumSize)
        switch elementType {
        case .uint8: return .uint8(try fixed(count, key))
        case .int8: return .int8(try fixed(count, key))
        case .uint16: return .uint16(try fixed(count, key))
        case .int16: return .int16(try fixed(count, key))
        case .uint32: return .uint32(try fixed(count, key))
        case .int32: return .int32(try fixed(count, key))
        case .uint64: return .uint64(try fixed(count, key))
        case .int64: return .int64(try fixed(count, key))
        case .float32: return .float32(try fixed(count, key).map { (b: UInt32) in Float(bitPattern: b) })
        case .float64: return .float64(try fixed(count, key).map { (b: UInt64) in Double(bitPattern: b) })
        case .bool:
            var out: [Bool] = []
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try readBool(key)) }
            return .bool(out)
        case .string:
            var out: [String] = []
            out.reserveCapacity(count)
            for i in 0..<count { out.append(try readString("element \(i) of '\(key)'")) }
            return .string(out)
        case .array:
            throw BloomError(.ggufNestedArray, "key '\(key)' is an array of arrays", location: "offset \(at)")
        }
    }

    /// `count` little-endian integers (the count was checked against the bytes left).
    private mutating func fixed<T: FixedWidthInteger>(_ count: Int, _ key: String) throws -> [T] {
        let size = MemoryLayout<T>.size
        let raw = try reader.readBytes(count * size, "elements of '\(key)'")
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = T(littleEndian: raw.loadUnaligned(fromByteOffset: i * size, as: T.self)) }
            initialized = count
        }
    }
}
