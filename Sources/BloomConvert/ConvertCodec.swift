import BloomCore
import BloomQuant

/// f32 rows ⇄ the bytes of a ggml type: the one place the converter and `quantize` encode tensor data.
/// BloomQuant does the work (F32/F16/BF16 round to nearest even; block types bit-exact with ggml).
enum ConvertCodec {
    /// Encodes `src` (whole rows of `rowLength`) as `type` into `dst`, which holds exactly the encoded bytes.
    /// The caller parallelizes over chunks, so this runs on the calling thread.
    static func encode(_ type: GGMLType, _ src: UnsafeBufferPointer<Float>, rowLength: Int, into dst: UnsafeMutableRawBufferPointer) throws {
        try Quantizer.quantize(type, rows: src, rowLength: rowLength, into: dst, threads: 1)
    }

    /// Decodes `src` (whole rows of `rowLength` values stored as `type`) into `dst`.
    static func decode(_ type: GGMLType, _ src: UnsafeRawBufferPointer, rowLength: Int, into dst: UnsafeMutableBufferPointer<Float>) throws {
        try Quantizer.dequantize(type, rows: src, rowLength: rowLength, into: dst, threads: 1)
    }
}
