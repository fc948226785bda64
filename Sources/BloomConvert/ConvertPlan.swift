import BloomArch
import BloomCore
import BloomGGUF
import Foundation

/// How `convert` chooses each tensor's type and which tensors it writes.
public struct ConvertOptions: Sendable {
    /// Type of the 2-D weights (`--type`).
    public var type: GGMLType = .F16
    /// `--tensor-type REGEX=TYPE`, first match on the GGUF name wins (over `--embedding-type` too).
    public var tensorTypes: [(pattern: String, type: GGMLType)] = []
    /// Type of token_embd (and of output.weight when written); nil = `defaultEmbeddingType(for: type)`.
    public var embeddingType: GGMLType?
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
    /// path the file records in quantize.imatrix.file.
    public var imatrix: (path: String, matrix: ImportanceMatrix)?

    public init() {}

    /// The type named `name` (f32, f16, bf16, q8_0, q4_0, q4_1; case-insensitive).
    public static func type(named name: String) throws -> GGMLType { try ConvertCodec.type(named: name) }

    /// One line per type: name and what it is (for --help).
    public static var typeTable: String {
        ConvertCodec.outputTypes.map { "\($0.name) (\($0.about))" }.joined(separator: "; ")
    }

    /// The embedding type used when `--embedding-type` is not given: for 4-bit types Q8_0, because token_embd is
    /// also the output head, whose error every logit sees (llama-quantize gives the head Q6_K for the same reason;
    /// bloomkit's closest block type is Q8_0). Otherwise the main type.
    public static func defaultEmbeddingType(for type: GGMLType) -> GGMLType {
        type == .Q4_0 || type == .Q4_1 ? .Q8_0 : type
    }
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
    /// Maps checkpoint tensors (Hugging Face names) onto the BLOOM GGUF tensor list, checks shapes, picks types.
    /// - Throws: `.invalidArgument` for a tensor BLOOM does not have, a missing one, a misshapen one, or a bad pattern.
    static func make(sources: [SourceTensor], hyperParameters h: BloomHyperParameters, tiedOutput: Bool,
                     options: ConvertOptions) throws -> [PlannedTensor] {
        var byGGUF: [String: SourceTensor] = [:]
        for s in sources {
            guard let name = BloomTensorNames.ggufName(forHF: s.name) else {
                throw BloomError(.invalidArgument, "tensor '\(s.name)' is not part of a BLOOM model", location: s.name)
            }
            if let earlier = byGGUF[name] {
                throw BloomError(.invalidArgument, "tensor '\(s.name)' appears twice (as '\(earlier.name)' too)", location: s.name)
            }
            byGGUF[name] = s
        }
        let hasHead = byGGUF[BloomTensorNames.output] != nil
        guard tiedOutput || hasHead else {
            throw BloomError(.invalidArgument, "config.json says tie_word_embeddings is false but the checkpoint has no lm_head.weight")
        }
        let separate = options.separateOutput || !tiedOutput
        let patterns = try compile(options.tensorTypes)
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
        for (name, ne) in expected {
            let source: SourceTensor
            if name == BloomTensorNames.output, !hasHead || tiedOutput {
                // Tied head written separately: the embedding's rows.
                guard let e = byGGUF[BloomTensorNames.tokenEmbedding] else { continue }
                source = e
            } else {
                guard let s = byGGUF[name] else {
                    throw BloomError(.invalidArgument, "the checkpoint has no '\(BloomTensorNames.hfName(forGGUF: name) ?? name)' (GGUF '\(name)')")
                }
                source = s
            }
            guard source.shape == ne.reversed() else {
                throw BloomError(.invalidArgument, "tensor '\(source.name)' has shape \(source.shape), expected \(Array(ne.reversed())) from config.json",
                                 location: source.name)
            }
            guard source.dtype.isFloatingPointWeight else {
                throw BloomError(.unsupported, "tensor '\(source.name)' is \(source.dtype.rawValue); only F32, F16 and BF16 weights can be converted",
                                 location: source.name)
            }
            var type = BloomTensorNames.mustBeF32(name, ne: ne) ? .F32 : choose(name, patterns: patterns, options: options)
            var note: String?
            if ne[0] % type.blockLayout.elements != 0 {
                note = "ne[0] = \(ne[0]) is not a multiple of \(type.name)'s block of \(type.blockLayout.elements); stored as f16"
                type = .F16
            }
            let isQKV = BloomTensorName(gguf: name)?.kind == .attentionQKV
            planned.append(PlannedTensor(info: try GGUFTensorInfo(name: name, type: type, ne: ne), source: source,
                                         qkv: isQKV ? layout : nil, note: note))
        }
        return planned
    }

    /// Compiles `--tensor-type` patterns.
    /// Compiles `--tensor-type` patterns as `LinearRegex`es: a user's pattern cannot backtrack for minutes.
    static func compile(_ tensorTypes: [(pattern: String, type: GGMLType)]) throws -> [(LinearRegex, GGMLType)] {
        try tensorTypes.map { (p, t) in
            do { return (try LinearRegex(p), t) } catch let error as BloomError {
                throw BloomError(.invalidArgument, "--tensor-type \(error.message)")
            }
        }
    }

    /// The type of a quantizable tensor: the first matching pattern, else the embedding type for
    /// token_embd/output, else the main type.
    static func choose(_ name: String, patterns: [(LinearRegex, GGMLType)], options: ConvertOptions) -> GGMLType {
        if let match = patterns.first(where: { $0.0.matches(in: name) }) { return match.1 }
        if name == BloomTensorNames.tokenEmbedding || name == BloomTensorNames.output {
            return options.embeddingType ?? ConvertOptions.defaultEmbeddingType(for: options.type)
        }
        return options.type
    }
}
