import BloomCore

/// The block types' bridge to BloomQuant (the quantization work, bit-exact with ggml). Until it is merged,
/// block types are refused here, in this one place.
enum BlockCodec {
    static func quantize(_ type: GGMLType, _ src: UnsafeBufferPointer<Float>, rowLength: Int, into dst: UnsafeMutableRawBufferPointer) throws {
        throw BloomError(.unsupported, "\(type.name) needs the block quantizer, which this build does not have yet")
    }

    static func dequantize(_ type: GGMLType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) throws {
        throw BloomError(.unsupported, "\(type.name) needs the block quantizer, which this build does not have yet")
    }
}
