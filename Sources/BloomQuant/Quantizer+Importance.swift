import BloomCore
import CKernels

/// Importance-weighted quantization (llama-quantize `--imatrix`): the types ggml weights, each one weighted row
/// function (bk_quant_weighted.c, the bytes of ggml's quantize_row_*_impl with quant_weights).
extension Quantizer {
    typealias WeightedRow =
        @Sendable (UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int, UnsafePointer<Float>?) -> Void

    static let weightedCodecs: [(type: GGMLType, encode: WeightedRow)] = [
        (.Q4_0, bk_quantize_row_q4_0_weighted_ref),
        (.Q4_1, bk_quantize_row_q4_1_weighted_ref),
        (.Q5_0, bk_quantize_row_q5_0_weighted_ref),
        (.Q5_1, bk_quantize_row_q5_1_weighted_ref),
        (.Q2_K, bk_quantize_row_q2_K_weighted_ref),
        (.Q3_K, bk_quantize_row_q3_K_weighted_ref),
        (.Q4_K, bk_quantize_row_q4_K_weighted_ref),
        (.Q5_K, bk_quantize_row_q5_K_weighted_ref),
        (.Q6_K, bk_quantize_row_q6_K_weighted_ref),
    ]

    /// Types whose bytes an importance matrix changes (every type ggml weights that bloomkit writes).
    public static let weightedTypes: [GGMLType] = weightedCodecs.map(\.type)

    /// Whether `importance` changes what `type` writes (not for F32, F16, BF16 and Q8_0: ggml rounds them to nearest).
    public static func usesImportance(_ type: GGMLType) -> Bool { weightedTypes.contains(type) }

    /// Quantizes a streamed tensor as `quantize(_:tensor:measuringError:threads:chunkValues:write:)` does, each row
    /// weighted by `importance` (one value per column, an imatrix entry's mean square activation).
    /// - Throws: `quantShape` when `importance` does not have one value per column; otherwise as the unweighted call
    ///   (a type an importance matrix does not change is quantized as without it).
    @discardableResult
    public static func quantize(_ type: GGMLType, tensor: SourceTensor, importance: [Float],
                                measuringError: Bool = false, threads: Int = defaultThreadCount,
                                write: (UnsafeRawBufferPointer) throws -> Void) throws -> QuantizationError? {
        guard importance.count == tensor.rowLength else {
            throw BloomError(.quantShape, "the importance matrix of '\(tensor.name)' has \(importance.count) values; "
                             + "the tensor has \(tensor.rowLength) columns")
        }
        guard let encode = weightedCodecs.first(where: { $0.type == type })?.encode else {
            return try quantize(type, tensor: tensor, measuringError: measuringError, threads: threads, write: write)
        }
        let rowLength = tensor.rowLength, rowBytes = try bytesPerRow(type, rowLength: rowLength)
        return try quantizeStream(type, tensor: tensor, measuringError: measuringError, threads: threads,
                                  chunkValues: chunkValues, encode: { x, y, n in
            importance.withUnsafeBufferPointer { w in
                for r in 0..<(n / rowLength) { encode(x + r * rowLength, y + r * rowBytes, rowLength, w.baseAddress) }
            }
        }, write: write)
    }
}
