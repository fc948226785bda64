import BloomCore

/// How one segment's bytes are stored (Formats/bkz.md, "Codecs").
public enum BKZCodec: Sendable, Equatable, CustomStringConvertible {
    /// The bytes as they are, one zstd frame per chunk.
    case zstd
    /// IEEE half floats: plane 0 = exponent (5 bits) and the top 3 mantissa bits, plane 1 = sign and 7 mantissa bits.
    case f16
    /// bfloat16: plane 0 = the 8 exponent bits, plane 1 = sign and the 7 mantissa bits.
    case bf16
    /// IEEE single floats: plane 0 = exponent, plane 1 = sign and mantissa bits 22…16, planes 2, 3 = the rest.
    case f32
    /// ggml blocks of `blockBytes` that start with `halfFields` f16 fields (scale, min): one plane per byte of each
    /// field, then one plane with the rest of every block (the quants).
    case blocks(blockBytes: Int, halfFields: Int)
    /// The same bytes as an earlier segment (a tied or repeated tensor), stored once.
    case duplicate(of: Int)
    /// ggml K-quant super-blocks (`BKZFieldLayout` of ggml type `type`): every field of every block in its own plane,
    /// an f16 field as two planes (its low and high bytes), any other field as one plane of that field's bytes, block
    /// after block.
    case fields(type: Int)

    /// Bytes per element or block: chunks hold whole units.
    public var unit: Int {
        switch self {
        case .zstd, .duplicate: return 1
        case .f16, .bf16: return 2
        case .f32: return 4
        case .blocks(let b, _): return b
        case .fields(let t): return BKZFieldLayout.of(type: t)?.blockBytes ?? 1
        }
    }

    /// zstd frames per chunk.
    public var planeCount: Int {
        switch self {
        case .zstd: return 1
        case .f16, .bf16: return 2
        case .f32: return 4
        case .blocks(_, let h): return 2 * h + 1
        case .fields(let t): return BKZFieldLayout.of(type: t)?.planeCount ?? 0
        case .duplicate: return 0
        }
    }

    public var description: String {
        switch self {
        case .zstd: return "zstd"
        case .f16: return "f16-planes"
        case .bf16: return "bf16-planes"
        case .f32: return "f32-planes"
        case .blocks(let b, let h): return "blocks-\(b)x\(h)"
        case .duplicate(let k): return "duplicate-of-\(k)"
        case .fields(let t): return "fields-\(BKZFieldLayout.of(type: t)?.name ?? String(t))"
        }
    }

    var id: UInt8 {
        switch self {
        case .zstd: return 0
        case .f16: return 1
        case .bf16: return 2
        case .f32: return 3
        case .blocks: return 4
        case .duplicate: return 5
        case .fields: return 6
        }
    }
}

/// The fields of a ggml K-quant super-block (ggml-common.h), in block order: byte offset, length, and whether the
/// field is an f16 (split into its low and high bytes). The field lists cover every byte of the block.
public struct BKZFieldLayout: Sendable {
    public let name: String
    public let blockBytes: Int
    public let fields: [(offset: Int, length: Int, half: Bool)]
    public var planeCount: Int { fields.reduce(0) { $0 + ($1.half ? 2 : 1) } }

    /// The layout of ggml type id `type` (Q2_K 10 … Q6_K 14), or nil.
    public static func of(type: Int) -> BKZFieldLayout? {
        switch type {
        case 10: return BKZFieldLayout(name: "q2_k", blockBytes: 84,  // scales[16] qs[64] d dmin
                                       fields: [(0, 16, false), (16, 64, false), (80, 2, true), (82, 2, true)])
        case 11: return BKZFieldLayout(name: "q3_k", blockBytes: 110,  // hmask[32] qs[64] scales[12] d
                                       fields: [(0, 32, false), (32, 64, false), (96, 12, false), (108, 2, true)])
        case 12: return BKZFieldLayout(name: "q4_k", blockBytes: 144,  // d dmin scales[12] qs[128]
                                       fields: [(0, 2, true), (2, 2, true), (4, 12, false), (16, 128, false)])
        case 13: return BKZFieldLayout(name: "q5_k", blockBytes: 176,  // d dmin scales[12] qh[32] qs[128]
                                       fields: [(0, 2, true), (2, 2, true), (4, 12, false), (16, 32, false),
                                                (48, 128, false)])
        case 14: return BKZFieldLayout(name: "q6_k", blockBytes: 210,  // ql[128] qh[64] scales[16] d
                                       fields: [(0, 128, false), (128, 64, false), (192, 16, false), (208, 2, true)])
        default: return nil
        }
    }
}

/// One independently decodable piece of a segment: `planeLengths.count` zstd frames, back to back from
/// `storedOffset`, that decode (and re-interleave) to `rawLength` bytes whose xxh64 is `checksum`.
public struct BKZChunk: Sendable, Equatable {
    public var rawLength: Int
    public var checksum: UInt64
    public var planeLengths: [Int]
    /// Where its first frame starts in the .bkz file (not stored: the frames tile the data region in index order).
    public var storedOffset: Int = 0
    public var storedLength: Int { planeLengths.reduce(0, +) }

    public init(rawLength: Int, checksum: UInt64, planeLengths: [Int]) {
        self.rawLength = rawLength
        self.checksum = checksum
        self.planeLengths = planeLengths
    }
}

/// A contiguous byte range of one file: a tensor's data, a header, padding, or a whole file that is none of these.
public struct BKZSegment: Sendable, Equatable {
    /// The tensor name, or a label such as `header`, `padding`, `data`.
    public var name: String
    public var codec: BKZCodec
    public var rawLength: Int
    /// Indexes into `BKZIndex.chunks` (empty for a duplicate).
    public var chunks: Range<Int>

    public init(name: String, codec: BKZCodec, rawLength: Int, chunks: Range<Int>) {
        self.name = name
        self.codec = codec
        self.rawLength = rawLength
        self.chunks = chunks
    }
}

/// One packed file: its path (relative to the packed folder, or the file's own name), size, xxh64 of all its bytes,
/// and its segments in file order.
public struct BKZEntry: Sendable, Equatable {
    public var path: String
    public var size: Int
    public var checksum: UInt64
    public var segments: Range<Int>

    public init(path: String, size: Int, checksum: UInt64, segments: Range<Int>) {
        self.path = path
        self.size = size
        self.checksum = checksum
        self.segments = segments
    }
}

/// Everything a reader needs to find and check any byte: files → segments → chunks → frames.
public struct BKZIndex: Sendable, Equatable {
    /// true: a folder was packed (unpack makes a folder); false: one file.
    public var isFolder: Bool
    public var files: [BKZEntry]
    public var segments: [BKZSegment]
    public var chunks: [BKZChunk]

    public init(isFolder: Bool, files: [BKZEntry] = [], segments: [BKZSegment] = [], chunks: [BKZChunk] = []) {
        self.isFolder = isFolder
        self.files = files
        self.segments = segments
        self.chunks = chunks
    }

    /// The segment whose chunks hold the bytes of `segment` (itself, or the one it duplicates).
    public func storage(of segment: Int) -> BKZSegment {
        if case .duplicate(let k) = segments[segment].codec { return segments[k] }
        return segments[segment]
    }
}
