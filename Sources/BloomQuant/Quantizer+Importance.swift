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
    ]

    /// Types whose bytes an importance matrix changes and that bloomkit weights.
    public static let weightedTypes: [GGMLType] = weightedCodecs.map(\.type)
    /// Types an importance matrix does not change in ggml (F32, F16, BF16, Q8_0: round to nearest).
    public static let unweightedTypes: [GGMLType] = [.F32, .F16, .BF16, .Q8_0]

    /// Whether `importance` changes what `type` writes (nil for a type bloomkit cannot yet weight: the K-quants).
    public static func usesImportance(_ type: GGMLType) -> Bool? {
        weightedTypes.contains(type) ? true : unweightedTypes.contains(type) ? false : nil
    }

    /// Quantizes a streamed tensor as `quantize(_:tensor:measuringError:threads:chunkValues:write:)` does, each row
    /// weighted by `importance` (one value per column, an imatrix entry's mean square activation).
    /// - Throws: `quantShape` when `importance` does not have one value per column; `quantUnsupportedType` for a
    ///   type whose weighted form bloomkit lacks (the K-quants); otherwise as the unweighted call.
    @discardableResult
    public static func quantize(_ type: GGMLType, tensor: SourceTensor, importance: [Float],
                                measuringError: Bool = false, threads: Int = defaultThreadCount,
                                write: (UnsafeRawBufferPointer) throws -> Void) throws -> QuantizationError? {
        guard importance.count == tensor.rowLength else {
            throw BloomError(.quantShape, "the importance matrix of '\(tensor.name)' has \(importance.count) values; "
                             + "the tensor has \(tensor.rowLength) columns")
        }
        guard let weighted = usesImportance(type) else {
            throw BloomError(.quantUnsupportedType, "importance-weighted \(type.name) is not implemented; quantize "
                             + "'\(tensor.name)' without --imatrix or to one of "
                             + weightedTypes.map(\.name).joined(separator: ", "))
        }
        guard weighted, let encode = weightedCodecs.first(where: { $0.type == type })?.encode else {
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
