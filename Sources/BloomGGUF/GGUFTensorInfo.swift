import BloomCore

/// Named limits of the GGUF format (ggml's), shared by the reader and the writer.
public enum GGUFLimits {
    /// `GGUF` read as a little-endian u32.
    public static let magic: UInt32 = 0x4655_4747
    /// The version this writer produces; the reader also accepts 2 (same layout, 64-bit counts).
    public static let version: UInt32 = 3
    /// GGML_MAX_DIMS: ggml tensors have at most 4 dimensions.
    public static let maxDimensions = 4
    /// GGML_MAX_NAME is 64 including the NUL terminator, so names hold at most 63 bytes.
    public static let maxNameBytes = 63
    /// Alignment of the data section and of every tensor when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// The key that overrides the alignment (a UINT32 power of two).
    public static let alignmentKey = "general.alignment"

    /// `x` rounded up to a multiple of `alignment`, overflow-checked.
    public static func pad(_ x: Int, _ alignment: Int) throws -> Int {
        let r = x % alignment
        return r == 0 ? x : try Checked.add(x, alignment - r, "padded size")
    }

    /// The alignment `metadata` asks for (default 32); anything but a UINT32 power of two is `.ggufBadAlignment`.
    public static func alignment(of metadata: GGUFMetadata) throws -> Int {
        guard let v = metadata[alignmentKey] else { return defaultAlignment }
        guard case .uint32(let a) = v else {
            throw BloomError(.ggufBadAlignment, "key '\(alignmentKey)' has type \(v.typeName), expected UINT32")
        }
        guard a > 0, a & (a - 1) == 0 else {
            throw BloomError(.ggufBadAlignment, "alignment \(a) is not a power of two")
        }
        return Int(a)
    }
}

/// One tensor as GGUF describes it: name, ggml type and dimensions, ggml order (`ne[0]` innermost, contiguous),
/// and where its bytes are relative to the data section. `shape` is `ne` reversed (PyTorch order).
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// Dimensions, innermost first (a torch `[out, in]` weight has `ne = [in, out]`).
    public let ne: [Int]
    /// Bytes of the tensor (rows × row bytes).
    public let byteCount: Int
    public let elementCount: Int
    /// Byte offset from the start of the data section (a multiple of the alignment).
    public internal(set) var offset: Int

    /// Validates a declaration: name of at most 63 bytes, at most 4 non-negative dims, ne[0] a whole number of blocks,
    /// sizes that fit in Int.
    public init(name: String, type: GGMLType, ne: [Int], offset: Int = 0) throws {
        guard name.utf8.count <= GGUFLimits.maxNameBytes else {
            throw BloomError(.ggufNameTooLong,
                             "tensor name '\(name)' has \(name.utf8.count) bytes, more than the " +
                             "\(GGUFLimits.maxNameBytes) ggml allows")
        }
        guard ne.count <= GGUFLimits.maxDimensions else {
            throw BloomError(.ggufTooManyDims,
                             "tensor '\(name)' has \(ne.count) dimensions, more than \(GGUFLimits.maxDimensions)")
        }
        guard ne.allSatisfy({ $0 >= 0 }) else {
            throw BloomError(.ggufBadShape, "tensor '\(name)' has a negative dimension in \(ne)")
        }
        let (block, blockBytes) = type.blockLayout
        let first = ne.first ?? 1
        guard first % block == 0 else {
            throw BloomError(.ggufBadShape,
                             "tensor '\(name)': ne[0] = \(first) is not a multiple of \(type.name)'s block of \(block)")
        }
        do {
            let elements = try Checked.product(ne, "element count")
            let rows = first == 0 ? 0 : elements / first
            let rowBytes = try Checked.multiply(first / block, blockBytes, "row size")
            byteCount = try Checked.multiply(rowBytes, rows, "byte count")
            elementCount = elements
        } catch {
            throw BloomError(.ggufBadShape, "tensor '\(name)' with ne \(ne) is too large", cause: error as? BloomError)
        }
        self.name = name
        self.type = type
        self.ne = ne
        self.offset = offset
    }

    /// Dimensions outermost first (PyTorch / numpy order).
    public var shape: [Int] { ne.reversed() }
    /// Elements per row (`ne[0]`; 1 for a scalar).
    public var rowLength: Int { ne.first ?? 1 }
    /// Number of rows (product of `ne[1...]`).
    public var rowCount: Int { rowLength == 0 ? 0 : elementCount / rowLength }
    /// Bytes per row.
    public var rowByteCount: Int { rowCount == 0 ? 0 : byteCount / rowCount }
}

/// A tensor of a mapped GGUF file: its description and a zero-copy view of its bytes, which keeps the mapping alive.
public struct GGUFTensor: Sendable {
    public let info: GGUFTensorInfo
    /// Absolute offset of the first byte in the file.
    public let fileOffset: Int
    public let file: MappedFile

    public var name: String { info.name }
    public var type: GGMLType { info.type }
    /// Dimensions, innermost first (ggml order).
    public var ne: [Int] { info.ne }
    /// Dimensions, outermost first (PyTorch order).
    public var shape: [Int] { info.shape }
    public var byteCount: Int { info.byteCount }
    public var elementCount: Int { info.elementCount }
    /// The tensor's bytes inside the mapping (bounds were checked when the file was opened).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[fileOffset..<(fileOffset + info.byteCount)])
    }
}
