/// Element types of checkpoint tensors, spelled as safetensors spells them (PyTorch storages map onto these too).
public enum DType: String, Sendable, CaseIterable, Codable {
    case BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, C64
    case F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ
    case F4, F6_E2M3, F6_E3M2

    /// Size of one element in bits (the safetensors reference's table).
    public var bitSize: Int {
        switch self {
        case .F4: return 4
        case .F6_E2M3, .F6_E3M2: return 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0, .F8_E4M3FNUZ, .F8_E5M2FNUZ: return 8
        case .I16, .U16, .F16, .BF16: return 16
        case .I32, .U32, .F32: return 32
        case .F64, .I64, .U64, .C64: return 64
        }
    }

    /// Whole bytes per element, nil for the sub-byte float formats.
    public var byteSize: Int? { bitSize % 8 == 0 ? bitSize / 8 : nil }

    /// The floating-point types bloomkit computes with (read into f32 exactly).
    public var isFloatingPointWeight: Bool { self == .F32 || self == .F16 || self == .BF16 }

    /// Byte length of `shape`, checked for overflow and for whole bytes.
    public func byteCount(shape: [Int]) throws -> Int {
        let elements = try Checked.product(shape, "element count of shape \(shape)")
        let bits = try Checked.multiply(elements, bitSize, "bit length of shape \(shape)")
        guard bits % 8 == 0 else {
            throw BloomError(.invalidArgument, "shape \(shape) of \(rawValue) is not a whole number of bytes")
        }
        return bits / 8
    }
}

/// ggml tensor types as stored in GGUF (ids from ggml.h; removed ids omitted).
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9
    case Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15
    case IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23
    case I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35

    /// (elements per block, bytes per block), from ggml's type traits.
    public var blockLayout: (elements: Int, bytes: Int) {
        switch self {
        case .F32: return (1, 4)
        case .F16, .BF16: return (1, 2)
        case .Q4_0: return (32, 18)
        case .Q4_1: return (32, 20)
        case .Q5_0: return (32, 22)
        case .Q5_1: return (32, 24)
        case .Q8_0: return (32, 34)
        case .Q8_1: return (32, 36)
        case .Q2_K: return (256, 84)
        case .Q3_K: return (256, 110)
        case .Q4_K: return (256, 144)
        case .Q5_K: return (256, 176)
        case .Q6_K: return (256, 210)
        case .Q8_K: return (256, 292)
        case .IQ2_XXS: return (256, 66)
        case .IQ2_XS: return (256, 74)
        case .IQ3_XXS: return (256, 98)
        case .IQ1_S: return (256, 50)
        case .IQ4_NL: return (32, 18)
        case .IQ3_S: return (256, 110)
        case .IQ2_S: return (256, 82)
        case .IQ4_XS: return (256, 136)
        case .I8: return (1, 1)
        case .I16: return (1, 2)
        case .I32: return (1, 4)
        case .I64, .F64: return (1, 8)
        case .IQ1_M: return (256, 56)
        case .TQ1_0: return (256, 54)
        case .TQ2_0: return (256, 66)
        }
    }

    /// ggml's own name ("q4_0", "f16", …), as llama.cpp prints it.
    public var name: String { String(describing: self).lowercased() }

    /// Bytes of a tensor with `ne` (ggml order, ne[0] innermost); ne[0] must be a whole number of blocks.
    public func byteCount(ne: [Int]) throws -> Int {
        let (blockElements, blockBytes) = blockLayout
        guard let first = ne.first else { return blockBytes }  // scalar
        guard first % blockElements == 0 else {
            throw BloomError(.invalidArgument,
                             "first dimension \(first) is not a multiple of \(name)'s block of \(blockElements)")
        }
        let rowBytes = try Checked.multiply(first / blockElements, blockBytes, "row size")
        return try Checked.multiply(rowBytes, Checked.product(Array(ne.dropFirst()), "row count"), "tensor size")
    }
}
