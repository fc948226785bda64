import BloomCore
import BloomQuant

/// The bytes of a ggml type back to f32 rows, for `quantize` reading a GGUF tensor.
/// BloomQuant does the work (block types as ggml dequantizes them).
enum ConvertCodec {
    /// Decodes `src` (whole rows of `rowLength` values stored as `type`) into `dst`.
    static func decode(_ type: GGMLType, _ src: UnsafeRawBufferPointer, rowLength: Int, into dst: UnsafeMutableBufferPointer<Float>) throws {
        try Quantizer.dequantize(type, rows: src, rowLength: rowLength, into: dst, threads: 1)
    }
}
