import BloomCore
import BloomQuant

/// f32 rows ⇄ the bytes of a ggml type: the one place the converter and `quantize` encode tensor data.
/// BloomQuant does the work (F32/F16/BF16 round to nearest even; block types bit-exact with ggml).
enum ConvertCodec {
    /// Types `convert --type` and `quantize --type` accept, with llama.cpp's names and llama_ftype numbers.
    static let outputTypes: [(name: String, type: GGMLType, fileType: UInt32, about: String)] = [
        ("f32", .F32, 0, "32-bit float, exact"),
        ("f16", .F16, 1, "16-bit float (IEEE half)"),
        ("bf16", .BF16, 32, "16-bit bfloat"),
        ("q8_0", .Q8_0, 7, "8-bit blocks of 32, fp16 scale (8.5 bits per weight)"),
        ("q4_0", .Q4_0, 2, "4-bit blocks of 32, fp16 scale (4.5 bits per weight)"),
        ("q4_1", .Q4_1, 3, "4-bit blocks of 32, fp16 scale and min (5.0 bits per weight)"),
    ]

    /// The type named `name` (case-insensitive), or an error listing the choices.
    static func type(named name: String) throws -> GGMLType {
        guard let t = outputTypes.first(where: { $0.name == name.lowercased() }) else {
            throw BloomError(.invalidArgument, "unknown type '\(name)'; choose one of \(outputTypes.map(\.name).joined(separator: ", "))")
        }
        return t.type
    }

    /// llama_ftype for `general.file_type`.
    static func fileType(of type: GGMLType) -> UInt32 {
        outputTypes.first(where: { $0.type == type })?.fileType ?? 0
    }

    static func isSupported(_ type: GGMLType) -> Bool { outputTypes.contains { $0.type == type } }

    static var blockTypes: [GGMLType] { [.Q8_0, .Q4_0, .Q4_1] }

    /// Decodes `src` (whole rows of `rowLength` values stored as `type`) into `dst`.
    static func decode(_ type: GGMLType, _ src: UnsafeRawBufferPointer, rowLength: Int, into dst: UnsafeMutableBufferPointer<Float>) throws {
        try Quantizer.dequantize(type, rows: src, rowLength: rowLength, into: dst, threads: 1)
    }
}
