import BloomArch
import BloomCore
import BloomGGUF
import Foundation

/// How `convert` and `quantize` choose each tensor's type and which tensors they write.
public struct ConvertOptions: Sendable {
    /// The file type (`--type`): its base type and llama-quantize's per-tensor rules (`FileType.tensorTypes`).
    public var type: FileType = .F16
    /// `--tensor-type`, `--embedding-type`, `--output-tensor-type`, `--pure`.
    public var overrides = TensorTypeOverrides()
    /// Write `output.weight` even when the checkpoint ties it to the embeddings.
    public var separateOutput = false
    /// Measure each tensor's encoding error (RMSE, max abs, SNR) for the report.
    public var measureError = false
    /// No progress line.
    public var quiet = true
    /// Worker threads for reading, re-laying and quantizing row chunks.
    public var threads = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// f32 elements per chunk (memory per worker: 4 bytes each, plus the encoded bytes).
    public var chunkElements = 1 << 20
    /// `--imatrix`: the importance matrix that weights Q4_0/Q4_1/Q5_0/Q5_1 (as llama-quantize --imatrix) and the
    /// path the file records in quantize.imatrix.file. Setting it also sets `overrides.hasImportance` (a type rule).
    public var imatrix: (path: String, matrix: ImportanceMatrix)? {
        didSet { overrides.hasImportance = imatrix != nil }
    }
    /// `--split-max-size` / `--split-max-tensors`: write llama.cpp's gguf-split layout instead of one file.
    public var split: SplitLimits?

    public init() {}
}

/// One tensor to write: its GGUF description, where its rows come from, and the QKV re-layout if it needs one.
struct PlannedTensor {
    var info: GGUFTensorInfo
    var source: SourceTensor
    var qkv: QKVLayout?
    /// Why the type differs from the one asked for, if it does.
    var note: String?
    /// Bytes copied as they are (`quantize` keeping a tensor's type) instead of encoding `source`.
    var copyFrom: GGUFTensor?
}

enum ConvertPlan {
    /// Maps checkpoint tensors (Hugging Face names) onto the BLOOM GGUF tensor list, checks shapes, picks types
    /// (`FileType.tensorTypes`).
    /// - Returns: the tensors, and a warning per `--tensor-type` pattern that matches no quantizable tensor.
    /// - Throws: `.invalidArgument` for a tensor BLOOM does not have, a missing one, a misshapen one, or a bad pattern.
    static func make(sources: [SourceTensor], hyperParameters h: BloomHyperParameters, tiedOutput: Bool,
                     options: ConvertOptions) throws -> (tensors: [PlannedTensor], warnings: [String]) {
        var byGGUF: [String: SourceTensor] = [:]
        for s in sources {
            guard let name = BloomTensorNames.ggufName(forHF: s.name) else {
                throw BloomError(.invalidArgument, "tensor '\(s.name)' is not part of a BLOOM model", location: s.name)
            }
            if let earlier = byGGUF[name] {
                throw BloomError(.invalidArgument, "tensor '\(s.name)' appears twice (as '\(earlier.name)' too)",
                                 location: s.name)
            }
            byGGUF[name] = s
        }
        let hasHead = byGGUF[BloomTensorNames.output] != nil
        guard tiedOutput || hasHead else {
            throw BloomError(.invalidArgument, "config.json says tie_word_embeddings is false but the checkpoint has no"
                             + " lm_head.weight")
        }
        let separate = options.separateOutput || !tiedOutput
        let layout = QKVLayout(headCount: h.headCount, headDim: h.headDim)
        var planned: [PlannedTensor] = []
        let expected = BloomTensorNames.expected(h, separateOutput: separate)
        // A tensor the config has no place for (a block past n_layer, a head the config ties) would be dropped
        // silently: the file would load and compute something else than the checkpoint.
        let wanted = Set(expected.map(\.name))
        for (name, s) in byGGUF.sorted(by: { $0.key < $1.key }) where !wanted.contains(name) {
            guard !(name == BloomTensorNames.output && hasHead) else { continue }
            throw BloomError(.invalidArgument, "tensor '\(s.name)' has no place in the model config.json describes "
                             + "(n_layer \(h.blockCount)): the config and the weights disagree", location: s.name)
        }
        let types = try options.type.tensorTypes(expected, blockCount: h.blockCount, overrides: options.overrides)
        for ((name, ne), choice) in zip(expected, types.choices) {
            let source: SourceTensor
            if name == BloomTensorNames.output, !hasHead || tiedOutput {
                // Tied head written separately: the embedding's rows.
                guard let e = byGGUF[BloomTensorNames.tokenEmbedding] else { continue }
                source = e
            } else {
                guard let s = byGGUF[name] else {
                    throw BloomError(.invalidArgument,
                                     "the checkpoint has no '\(BloomTensorNames.hfName(forGGUF: name) ?? name)'"
                                     + " (GGUF '\(name)')")
                }
                source = s
            }
            guard source.shape == ne.reversed() else {
                throw BloomError(.invalidArgument, "tensor '\(source.name)' has shape \(source.shape), expected"
                                 + " \(Array(ne.reversed())) from config.json", location: source.name)
            }
            guard source.dtype.isFloatingPointWeight else {
                throw BloomError(.unsupported, "tensor '\(source.name)' is \(source.dtype.rawValue); only F32, F16"
                                 + " and BF16 weights can be converted", location: source.name)
            }
            let type = BloomTensorNames.mustBeF32(name, ne: ne) ? .F32 : choice?.type ?? .F32
            let isQKV = BloomTensorName(gguf: name)?.kind == .attentionQKV
            planned.append(PlannedTensor(info: try GGUFTensorInfo(name: name, type: type, ne: ne), source: source,
                                         qkv: isQKV ? layout : nil, note: choice?.note))
        }
        return (planned, types.unmatchedPatterns.map(ConvertPlan.unmatchedWarning))
    }

    static func unmatchedWarning(_ pattern: String) -> String {
        "--tensor-type pattern '\(pattern)' matches no quantizable tensor"
    }
}
