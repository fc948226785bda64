import BloomArch
import BloomCore
import BloomGGUF
import Foundation

/// `bloomkit quantize`: re-encodes the weights of a GGUF file (like llama-quantize), keeping its metadata.
public enum GGUFQuantizer {
    /// Writes `input` with its quantizable tensors (2-D weights; not norms or biases) as `options.type`
    /// (token_embd/output as `options.embeddingType` or the default for the type, `--tensor-type` patterns first).
    /// Other tensors, and tensors that already have their target type, are copied byte for byte.
    /// - Parameter allowRequantize: accept quantized sources (dequantized, then quantized again: error adds up).
    /// - Throws: `.invalidArgument` for a quantized source without `allowRequantize`; reader and I/O errors.
    public static func quantize(input: String, output: String, options: ConvertOptions, allowRequantize: Bool) throws -> ConvertReport {
        let start = ProgressReporter.now()
        guard ConvertCodec.isSupported(options.type) else {
            throw BloomError(.invalidArgument, "cannot quantize to \(options.type.name)")
        }
        let file = try GGUFSplitSet(path: input)
        let patterns = try ConvertPlan.compile(options.tensorTypes)
        var plan: [PlannedTensor] = []
        for t in file.tensors {
            var target = t.type
            var note: String?
            if BloomTensorNames.isQuantizable(t.name, ne: t.ne) {
                target = ConvertPlan.choose(t.name, patterns: patterns, options: options)
                if t.ne[0] % target.blockLayout.elements != 0 {
                    note = "ne[0] = \(t.ne[0]) is not a multiple of \(target.name)'s block; stored as f16"
                    target = .F16
                }
            }
            if target == t.type {
                plan.append(PlannedTensor(info: t.info, source: SourceTensor(gguf: t), qkv: nil, note: note, copyFrom: t))
                continue
            }
            guard ConvertCodec.isSupported(t.type) else {
                throw BloomError(.unsupported, "tensor '\(t.name)' is \(t.type.name), which bloomkit cannot read", path: input)
            }
            if ConvertCodec.blockTypes.contains(t.type), !allowRequantize {
                throw BloomError(.invalidArgument, "tensor '\(t.name)' is already \(t.type.name); quantizing it again adds error (pass --allow-requantize to do it anyway)",
                                 path: input)
            }
            plan.append(PlannedTensor(info: try GGUFTensorInfo(name: t.name, type: target, ne: t.ne), source: SourceTensor(gguf: t),
                                      qkv: nil, note: note))
        }
        var metadata = file.metadata
        metadata.remove(BloomGGUFKeys.tensorChecksums)
        for key in [GGUFSplitSet.splitNumberKey, GGUFSplitSet.splitCountKey, GGUFSplitSet.splitTensorCountKey] {
            metadata.remove(key)
        }
        metadata.set(BloomGGUFKeys.fileType, .uint32(ConvertCodec.fileType(of: options.type)))
        metadata.set(BloomGGUFKeys.quantizationVersion, .uint32(2))
        if !metadata.contains(BloomGGUFKeys.checksumAlgorithm) {
            metadata.set(BloomGGUFKeys.checksumAlgorithm, .string(BloomGGUFKeys.xxh64))
        }
        let written = try Converter.write(plan, metadata: metadata, to: output, options: options, label: "quantize")
        return ConvertReport(path: written.paths[0], tensors: written.reports,
                             fileSize: try Converter.fileSize(written.paths), seconds: ProgressReporter.now() - start,
                             measured: options.measureError, parts: written.paths)
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
