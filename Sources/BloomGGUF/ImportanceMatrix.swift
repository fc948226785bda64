import BloomCore

/// An importance matrix as llama.cpp's llama-imatrix writes it and llama-quantize `--imatrix` reads it
/// (tools/imatrix/imatrix.cpp, common/imatrix-loader.cpp): for each weight matrix, the sum over evaluated tokens of
/// the square of each input column's activation, and the number of tokens.
///
/// GGUF form (what bloomkit writes): `general.type` = "imatrix", `imatrix.datasets` (ARRAY[STRING]: the text files),
/// `imatrix.chunk_count` and `imatrix.chunk_size` (UINT32); per matrix, in name order, `<name>.in_sum2` (F32,
/// ne [columns]) and `<name>.counts` (F32, ne [1]).
/// Legacy `.dat` form (read only), little-endian: i32 entry count; per entry i32 name length, the name, i32 ncall,
/// i32 value count, f32 values (already (sum / count) · ncall); then optionally i32 chunk count, i32 length and
/// the dataset name.
public struct ImportanceMatrix: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// Σ x² per input column (legacy files: the mean times ncall).
        public var sums: [Float]
        /// Tokens summed (legacy files: ncall).
        public var count: Int

        public init(sums: [Float], count: Int) {
            self.sums = sums
            self.count = count
        }
    }

    public var entries: [String: Entry]
    public var datasets: [String]
    public var chunkCount: Int
    public var chunkSize: Int
    /// Read from a legacy `.dat` file (its sums are means × ncall).
    public var isLegacy = false

    public init(entries: [String: Entry], datasets: [String], chunkCount: Int, chunkSize: Int) {
        self.entries = entries
        self.datasets = datasets
        self.chunkCount = chunkCount
        self.chunkSize = chunkSize
    }

    public static let typeKey = "general.type"
    public static let datasetsKey = "imatrix.datasets"
    public static let chunkCountKey = "imatrix.chunk_count"
    public static let chunkSizeKey = "imatrix.chunk_size"
    static let sumsSuffix = ".in_sum2"
    static let countsSuffix = ".counts"
    /// Why: a weight matrix of any real model has fewer than 2^24 input columns; a legacy file's counts are read
    /// before its values, and this keeps a lying count from sizing an allocation.
    public static let maxColumns = 1 << 24

    /// The per-column importance llama-quantize derives: sums / count (legacy: value / ncall); all ones for an
    /// entry without tokens.
    public func importance(of name: String) -> [Float]? {
        guard let e = entries[name] else { return nil }
        guard e.count > 0 else { return isLegacy ? e.sums : [Float](repeating: 1, count: e.sums.count) }
        let c = Float(e.count)
        return e.sums.map { $0 / c }
    }

    // MARK: writing

    /// Writes the GGUF form atomically.
    /// - Throws: the writer's errors.
    public func write(to path: String) throws {
        var metadata = GGUFMetadata()
        try metadata.append(Self.typeKey, .string("imatrix"))
        try metadata.append(Self.datasetsKey, .array(.string(datasets)))
        try metadata.append(Self.chunkCountKey, .uint32(UInt32(clamping: chunkCount)))
        try metadata.append(Self.chunkSizeKey, .uint32(UInt32(clamping: chunkSize)))
        let names = entries.keys.sorted()
        var infos: [GGUFTensorInfo] = []
        for name in names {
            // ne [columns] and [1]: ggml writes a [n, 1] tensor with its trailing 1 dropped (ggml_n_dims)
            infos.append(try GGUFTensorInfo(name: name + Self.sumsSuffix, type: .F32, ne: [entries[name]!.sums.count]))
            infos.append(try GGUFTensorInfo(name: name + Self.countsSuffix, type: .F32, ne: [1]))
        }
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: infos)
        for name in names {
            let e = entries[name]!
            try e.sums.map(\.bitPattern.littleEndian).withUnsafeBytes { try writer.write($0) }
            try withUnsafeBytes(of: Float(e.count).bitPattern.littleEndian) { try writer.write($0) }
        }
        try writer.commit()
    }

    // MARK: reading

    /// Reads either form (GGUF recognised by its magic).
    /// - Throws: `.invalidArgument` (or the GGUF reader's codes) naming the file and what is wrong: a sum without
    ///   its count, a type other than F32, a GGUF file without the imatrix keys, a legacy file that ends early.
    public init(path: String) throws {
        let file = try MappedFile(path: path, what: "importance matrix")
        if file.count >= 4, file.bytes.loadUnaligned(as: UInt32.self) == GGUFLimits.magic.littleEndian {
            try self.init(gguf: try GGUFFile(file: file))
        } else {
            do {
                try self.init(legacy: file)
            } catch let error as BloomError {
                throw error.path == nil ? error.at(path: path) : error
            }
        }
    }

    init(gguf: GGUFFile) throws {
        let path = gguf.path
        guard let count = gguf.metadata[Self.chunkCountKey]?.integer,
              let size = gguf.metadata[Self.chunkSizeKey]?.integer,
              gguf.metadata.contains(Self.datasetsKey) else {
            throw BloomError(.invalidArgument, "no importance matrix: the GGUF file lacks \(Self.chunkCountKey), "
                             + "\(Self.chunkSizeKey) or \(Self.datasetsKey)", path: path)
        }
        var sums: [String: [Float]] = [:], counts: [String: Int] = [:]
        for t in gguf.tensors {
            let isSum = t.name.hasSuffix(Self.sumsSuffix), isCount = t.name.hasSuffix(Self.countsSuffix)
            guard isSum || isCount else { continue }
            guard t.type == .F32 else {
                throw BloomError(.invalidArgument, "tensor '\(t.name)' is \(t.type.name); importance matrices are F32",
                                 path: path)
            }
            let values = (0..<t.elementCount).map {
                Float(bitPattern: UInt32(littleEndian: t.bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
            if isSum {
                sums[String(t.name.dropLast(Self.sumsSuffix.count))] = values
            } else {
                guard values.count == 1, let c = values.first, c.isFinite, c >= 0, c < 0x1p62 else {
                    throw BloomError(.invalidArgument, "tensor '\(t.name)' must hold one finite count ≥ 0 (one "
                                     + "matrix "
                                     + "per tensor; expert stacks are not BLOOM's)", path: path)
                }
                counts[String(t.name.dropLast(Self.countsSuffix.count))] = Int(c.rounded())
            }
        }
        guard Set(sums.keys) == Set(counts.keys), !sums.isEmpty else {
            let odd = Set(sums.keys).symmetricDifference(counts.keys).sorted().first ?? "(none)"
            throw BloomError(.invalidArgument, sums.isEmpty ? "the importance matrix has no entries"
                             : "'\(odd)' has sums without counts or counts without sums", path: path)
        }
        var entries: [String: Entry] = [:]
        for (name, s) in sums { entries[name] = Entry(sums: s, count: counts[name]!) }
        self.init(entries: entries, datasets: (try? gguf.metadata.stringArray(Self.datasetsKey)) ?? [],
                  chunkCount: count, chunkSize: size)
    }

    init(legacy file: MappedFile) throws {
        var r = ByteReader(file.bytes)
        let n = Int(try r.read(Int32.self))
        guard n >= 1 else { throw BloomError(.invalidArgument,
                                             "no entries (count \(n)) in the legacy importance matrix") }
        var entries: [String: Entry] = [:]
        for i in 0..<n {
            let length = Int(try r.read(Int32.self))
            guard length >= 0, length <= 1 << 16 else {
                throw BloomError(.invalidArgument, "entry \(i): name length \(length)",
                                 location: "offset \(r.offset - 4)")
            }
            let name = try r.readUTF8(length, "entry \(i)'s name")
            let ncall = Int(try r.read(Int32.self)), count = Int(try r.read(Int32.self))
            guard count >= 1, count <= Self.maxColumns else {
                throw BloomError(.invalidArgument, "entry '\(name)': \(count) values, outside 1…\(Self.maxColumns)",
                                 location: "offset \(r.offset - 4)")
            }
            let raw = try r.readBytes(count * 4, "values of '\(name)'")
            let sums = (0..<count).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
            entries[name] = Entry(sums: sums, count: ncall)
        }
        var chunks = 0, datasets: [String] = []
        if r.remaining >= 4 {
            chunks = Int(try r.read(Int32.self))
            if r.remaining >= 4 {
                let length = Int(try r.read(Int32.self))
                if length > 0, length <= r.remaining, let name = try? r.readUTF8(length, "dataset name") {
                    datasets = [name]
                }
            }
        }
        self.init(entries: entries, datasets: datasets, chunkCount: chunks, chunkSize: 0)
        isLegacy = true
    }
}
