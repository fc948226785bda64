import CKernels

/// Exact f16/bf16 <-> f32 conversions (round-to-nearest-even; Inf, NaN and subnormals kept), F16C/AVX2 at run time.
public enum Precision {
    @inlinable public static func f16ToFloat(_ h: UInt16) -> Float { bk_f16_to_f32_scalar(h) }
    @inlinable public static func floatToF16(_ f: Float) -> UInt16 { bk_f32_to_f16_scalar(f) }
    @inlinable public static func bf16ToFloat(_ h: UInt16) -> Float { bk_bf16_to_f32_scalar(h) }
    @inlinable public static func floatToBF16(_ f: Float) -> UInt16 { bk_f32_to_bf16_scalar(f) }

    /// Converts `n` elements at `src` (F32, F16 or BF16, any alignment) to f32 at `dst`.
    public static func toFloat(_ dtype: DType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        switch dtype {
        case .F32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
        case .F16, .BF16:
            // Unaligned sources (safetensors does not promise alignment) are handled by the C loops (loadu).
            let p = src.assumingMemoryBound(to: UInt16.self)
            if dtype == .F16 { bk_f16_to_f32(p, dst, n) } else { bk_bf16_to_f32(p, dst, n) }
        default:
            preconditionFailure("toFloat on \(dtype)")  // callers check isFloatingPointWeight
        }
    }

    /// Converts `n` f32 values to `dtype` (F32, F16 or BF16) at `dst`.
    public static func fromFloat(_ dtype: DType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer,
                                 _ n: Int) {
        switch dtype {
        case .F32: dst.copyMemory(from: src, byteCount: n * 4)
        case .F16: bk_f32_to_f16(src, dst.assumingMemoryBound(to: UInt16.self), n)
        case .BF16: bk_f32_to_bf16(src, dst.assumingMemoryBound(to: UInt16.self), n)
        default: preconditionFailure("fromFloat to \(dtype)")
        }
    }
}
