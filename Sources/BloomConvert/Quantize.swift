import BloomArch
import BloomCore
import BloomGGUF
import BloomQuant
import Foundation

/// `bloomkit quantize`: re-encodes the weights of a GGUF file (like llama-quantize), keeping its metadata.
public enum GGUFQuantizer {
    /// Writes `input` with its quantizable tensors (2-D weights; not norms or biases) as `FileType.tensorTypes`
    /// chooses for `options.type` and `options.overrides`, as llama-quantize does. Other tensors, and tensors that
    /// already have their target type, are copied byte for byte.
    /// - Parameter allowRequantize: accept quantized sources (dequantized, then quantized again: error adds up).
    /// - Throws: `.invalidArgument` for a quantized source without `allowRequantize`; reader and I/O errors.
    public static func quantize(input: String, output: String, options: ConvertOptions, allowRequantize: Bool) throws -> ConvertReport {
        let start = ProgressReporter.now()
        let file = try GGUFSplitSet(path: input)
        let blockCount = try file.metadata.optional(BloomGGUFKeys.blockCount, GGUFMetadata.uint32).map(Int.init)
            ?? file.tensors.compactMap { BloomTensorName(gguf: $0.name)?.layer }.max().map { $0 + 1 } ?? 0
        let types = try options.type.tensorTypes(file.tensors.map { ($0.name, $0.ne) }, blockCount: blockCount,
                                                 overrides: options.overrides)
        var plan: [PlannedTensor] = []
        for (t, choice) in zip(file.tensors, types.choices) {
            let target = choice?.type ?? t.type
            if target == t.type {
                plan.append(PlannedTensor(info: t.info, source: SourceTensor(gguf: t), qkv: nil, note: choice?.note,
                                          copyFrom: t))
                continue
            }
            guard Quantizer.supportedTypes.contains(t.type) else {
                throw BloomError(.unsupported, "tensor '\(t.name)' is \(t.type.name), which bloomkit cannot read", path: input)
            }
            if t.type.isBlockType, !allowRequantize {
                throw BloomError(.invalidArgument, "tensor '\(t.name)' is already \(t.type.name); quantizing it again adds error (pass --allow-requantize to do it anyway)",
                                 path: input)
            }
            plan.append(PlannedTensor(info: try GGUFTensorInfo(name: t.name, type: target, ne: t.ne), source: SourceTensor(gguf: t),
                                      qkv: nil, note: choice?.note))
        }
        var metadata = file.metadata
        metadata.remove(BloomGGUFKeys.tensorChecksums)
        for key in [GGUFSplitSet.splitNumberKey, GGUFSplitSet.splitCountKey, GGUFSplitSet.splitTensorCountKey] {
            metadata.remove(key)
        }
        metadata.set(BloomGGUFKeys.fileType, .uint32(options.type.number))
        metadata.set(BloomGGUFKeys.quantizationVersion, .uint32(2))
        if !metadata.contains(BloomGGUFKeys.checksumAlgorithm) {
            metadata.set(BloomGGUFKeys.checksumAlgorithm, .string(BloomGGUFKeys.xxh64))
        }
        let written = try Converter.write(plan, metadata: metadata, to: output, options: options, label: "quantize")
        return ConvertReport(path: written.paths[0], tensors: written.reports,
                             fileSize: try Converter.fileSize(written.paths), seconds: ProgressReporter.now() - start,
                             measured: options.measureError, parts: written.paths,
                             warnings: types.unmatchedPatterns.map(ConvertPlan.unmatchedWarning))
    }
}

extension SourceTensor {
    /// A GGUF tensor as f32 rows, decoded chunk by chunk: ggml rows of `ne[0]` values for 2-D and up,
    /// single elements for 1-D (SourceTensor's convention).
    init(gguf t: GGUFTensor) {
        let oneD = t.ne.count <= 1
        let unitBytes = oneD ? t.byteCount / max(t.elementCount, 1) : t.info.rowByteCount
        let shape = oneD ? [t.elementCount] : [t.info.rowCount, t.info.rowLength]
        self.init(name: t.name, dtype: .F32, shape: shape) { start, count, dst in
            try ConvertCodec.decode(t.type, UnsafeRawBufferPointer(rebasing: t.bytes[(start * unitBytes)..<((start + count) * unitBytes)]),
                                    rowLength: oneD ? 1 : t.info.rowLength, into: dst)
        }
    }
}
