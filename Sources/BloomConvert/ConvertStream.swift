import BloomArch
import BloomCore
import BloomGGUF
import BloomQuant

/// Streams planned tensors into a GGUF writer through BloomQuant's chunked engine: row chunks are read (re-laid for
/// QKV), encoded and measured by `threads` workers at once, then written in order.
/// Memory: threads × (chunk f32 + encoded bytes).
enum ConvertStream {
    /// Writes one tensor's bytes. Returns its encoding error (empty unless `measure`).
    /// - Parameter importance: the tensor's imatrix entry (one value per column), if the matrix has one.
    static func write(_ t: PlannedTensor, to writer: GGUFWriter, threads: Int, chunkElements: Int, measure: Bool,
                      importance: [Float]? = nil, progress: (_ bytes: Int) -> Void) throws -> QuantizationError {
        guard t.source.rowCount > 0, t.source.rowLength > 0 else { return QuantizationError() }
        let measuring = measure && t.info.type != .F32
        if let importance, Quantizer.usesImportance(t.info.type) {
            let error = try Quantizer.quantize(t.info.type, tensor: ggufRows(t), importance: importance,
                                               measuringError: measuring, threads: threads) { bytes in
                try writer.write(bytes)
                progress(bytes.count)
            }
            return error ?? QuantizationError()
        }
        let error = try Quantizer.quantize(t.info.type, tensor: ggufRows(t), measuringError: measuring,
                                           threads: threads, chunkValues: chunkElements) { bytes in
            try writer.write(bytes)
            progress(bytes.count)
        }
        return error ?? QuantizationError()
    }

    /// The source in GGUF row order: itself, or gathered head by head for QKV.
    private static func ggufRows(_ t: PlannedTensor) -> SourceTensor {
        guard let qkv = t.qkv else { return t.source }
        let source = t.source
        let rowLength = source.rowLength
        return SourceTensor(name: source.name, dtype: source.dtype, shape: source.shape) { start, count, dst in
            for run in qkv.hfRuns(ggufRows: start, count: count) {
                let at = (run.gguf - start) * rowLength
                try source.readRows(run.hf, run.length,
                                    UnsafeMutableBufferPointer(rebasing: dst[at..<(at + run.length * rowLength)]))
            }
        }
    }
}
