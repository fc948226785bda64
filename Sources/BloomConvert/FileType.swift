import BloomArch
import BloomCore
import Foundation

/// A file type `convert --type` and `quantize --type` write: llama-quantize's names (case-insensitive, plus its
/// aliases Q3_K, Q4_K and Q5_K), its llama_ftype numbers (`general.file_type`) and its per-tensor type rules for
/// a BLOOM model (`tensorTypes`), so each tensor gets the type `llama-quantize IN.gguf OUT.gguf TYPE` gives it.
public struct FileType: Sendable, Hashable, CustomStringConvertible {
    /// llama-quantize's name, e.g. "Q4_K_M".
    public let name: String
    /// llama_ftype, written as `general.file_type`.
    public let number: UInt32
    /// The type of every weight the mix does not treat specially (llama_ftype_get_default_type).
    public let baseType: GGMLType
    /// One line for --help.
    public let about: String

    public var description: String { name }

    init(_ name: String, _ number: UInt32, _ baseType: GGMLType, _ about: String) {
        self.name = name
        self.number = number
        self.baseType = baseType
        self.about = about
    }

    public static let F32 = FileType("F32", 0, .F32, "32-bit float, exact")
    public static let F16 = FileType("F16", 1, .F16, "16-bit float (IEEE half)")
    public static let BF16 = FileType("BF16", 32, .BF16, "16-bit bfloat")
    public static let Q8_0 = FileType("Q8_0", 7, .Q8_0, "8-bit blocks of 32, fp16 scale")
    public static let Q6_K = FileType("Q6_K", 18, .Q6_K, "6-bit super-blocks of 256")
    public static let Q5_1 = FileType("Q5_1", 9, .Q5_1, "5-bit blocks of 32, fp16 scale and min; Q6_K head")
    public static let Q5_0 = FileType("Q5_0", 8, .Q5_0, "5-bit blocks of 32, fp16 scale; Q6_K head")
    public static let Q5_K_M = FileType("Q5_K_M", 17, .Q5_K,
                                        "Q5_K; Q6_K head, attn_qkv, ffn_down in half the layers")
    public static let Q5_K_S = FileType("Q5_K_S", 16, .Q5_K, "Q5_K; Q6_K head")
    // Q4_1/Q4_0 follow llama-quantize's rules like every file type: a tied BLOOM's token_embd is Q6_K (Q8_0 when
    // its rows do not fit 256-blocks, as in the tiny fixtures); `--embedding-type q8_0` gives bloomkit's former choice.
    public static let Q4_1 = FileType("Q4_1", 3, .Q4_1, "4-bit blocks of 32, fp16 scale and min; Q6_K head")
    public static let Q4_0 = FileType("Q4_0", 2, .Q4_0, "4-bit blocks of 32, fp16 scale; Q6_K head")
    public static let Q4_K_M = FileType("Q4_K_M", 15, .Q4_K,
                                        "Q4_K; Q6_K head, attn_qkv, ffn_down in half the layers")
    public static let Q4_K_S = FileType("Q4_K_S", 14, .Q4_K, "Q4_K; Q6_K head; Q5_K first attn_qkv and ffn_down")
    public static let Q3_K_L = FileType("Q3_K_L", 13, .Q3_K, "Q3_K; Q6_K head; Q5_K attn_qkv, attn_output, ffn_down")
    public static let Q3_K_M = FileType("Q3_K_M", 12, .Q3_K, "Q3_K; Q6_K head; Q4/5_K attn_qkv, attn_output, ffn_down")
    public static let Q3_K_S = FileType("Q3_K_S", 11, .Q3_K, "Q3_K; Q6_K head")
    public static let Q2_K = FileType("Q2_K", 10, .Q2_K, "Q2_K; Q6_K head; Q3_K attn_qkv, attn_output, ffn_down")

    /// Every file type, largest first (the order of --help).
    public static let all: [FileType] = [
        .F32, .F16, .BF16, .Q8_0, .Q6_K, .Q5_1, .Q5_0, .Q5_K_M, .Q5_K_S, .Q4_1, .Q4_0, .Q4_K_M, .Q4_K_S,
        .Q3_K_L, .Q3_K_M, .Q3_K_S, .Q2_K,
    ]

    /// llama-quantize's aliases.
    static let aliases: [(name: String, type: FileType)] = [("Q3_K", .Q3_K_M), ("Q4_K", .Q4_K_M), ("Q5_K", .Q5_K_M)]

    /// The file type called `name` (case-insensitive; an alias or a llama_ftype number too, as llama-quantize
    /// accepts them).
    /// - Throws: `.invalidArgument` naming the choices.
    public static func named(_ name: String) throws -> FileType {
        let upper = name.uppercased()
        if let t = all.first(where: { $0.name == upper }) ?? aliases.first(where: { $0.name == upper })?.type {
            return t
        }
        if let n = UInt32(name), let t = all.first(where: { $0.number == n }) { return t }
        let names = all.map(\.name).joined(separator: ", ")
        throw BloomError(.invalidArgument, "unknown type '\(name)'; choose one of \(names)")
    }

    /// The ggml types a tensor override (`--tensor-type`, `--embedding-type`, `--output-tensor-type`) may name.
    public static let tensorTypes: [GGMLType] = [
        .F32, .F16, .BF16, .Q8_0, .Q6_K, .Q5_1, .Q5_0, .Q5_K, .Q4_1, .Q4_0, .Q4_K, .Q3_K, .Q2_K,
    ]

    /// The ggml type called `name` (ggml's names, case-insensitive: "q6_K", "Q8_0", "f16").
    /// - Throws: `.invalidArgument` naming the choices.
    public static func tensorType(named name: String) throws -> GGMLType {
        guard let t = tensorTypes.first(where: { $0.name == name.lowercased() }) else {
            let names = tensorTypes.map(\.name).joined(separator: ", ")
            throw BloomError(.invalidArgument, "unknown tensor type '\(name)'; choose one of \(names)")
        }
        return t
    }

    /// Bits per weight of `type`'s blocks.
    static func blockBitsPerWeight(_ type: GGMLType) -> Double {
        Double(type.blockLayout.bytes * 8) / Double(type.blockLayout.elements)
    }

    /// One line per type for --help: name, bits per weight of its base type and of a whole BLOOM-560M-shaped
    /// file (from `tensorTypes`: the head and the mix count), what it holds.
    /// Computed once: every command's start builds the whole command tree, convert's and quantize's help included.
    public static let helpTable: String = {
        // bigscience/bloom-560m's shape: 24 layers of 1024, vocabulary 250880, head tied to token_embd.
        let h560 = try? BloomHyperParameters(vocabSize: 250_880, contextLength: 1024, embeddingLength: 1024,
                                             feedForwardLength: 4096, blockCount: 24, headCount: 16,
                                             layerNormEpsilon: 1e-5)
        let rows = all.map { t in
            let file = h560.flatMap { try? t.bitsPerWeight($0) } ?? .nan
            let name = t.name.padding(toLength: 7, withPad: " ", startingAt: 0)
            return String(format: "  %@ %5.2f  %5.2f  %@", name, blockBitsPerWeight(t.baseType), file, t.about)
        }
        return (["  type      bpw  560M*  what"] + rows
                + ["  bpw: bits per weight of the base type; 560M*: of a BLOOM-560M-shaped file"])
            .joined(separator: "\n")
    }()

    /// Bits per weight of a whole BLOOM file of this type (tied head), from the per-tensor rules.
    func bitsPerWeight(_ h: BloomHyperParameters) throws -> Double {
        let tensors = BloomTensorNames.expected(h, separateOutput: false)
        let types = try tensorTypes(tensors, blockCount: h.blockCount, overrides: TensorTypeOverrides())
        var bits = 0.0, weights = 0.0
        for (t, choice) in zip(tensors, types.choices) {
            let n = Double(t.ne.reduce(1, *))
            bits += n * Self.blockBitsPerWeight(choice?.type ?? .F32)
            weights += n
        }
        return bits / weights
    }
}

/// The user's per-tensor choices on top of a file type's rules.
public struct TensorTypeOverrides: Sendable {
    /// `--tensor-type REGEX=TYPE`: the first pattern found in a quantizable tensor's name gives its type.
    public var patterns: [(pattern: String, type: GGMLType)] = []
    /// `--embedding-type`: token_embd.
    public var embeddingType: GGMLType?
    /// `--output-tensor-type`: output.weight, and token_embd when the head is tied to it and no
    /// `--embedding-type` is given (token_embd is the head then).
    public var outputType: GGMLType?
    /// `--pure`: every quantizable tensor gets the base type (still falling back when rows do not fit its blocks).
    public var pure = false
    /// `--imatrix` was given: llama-quantize then makes ffn_down of the first eighth of the blocks Q4_1 in a Q4_0
    /// file and Q5_1 in a Q5_0 file.
    public var hasImportance = false

    public init() {}
}

/// One tensor's type and, when it is not the one the rules asked for, why.
public struct TensorTypeChoice: Sendable, Equatable {
    public var type: GGMLType
    public var note: String?
}

extension FileType {
    /// The types llama-quantize (`llama_tensor_get_type`, llama.cpp src/llama-quant.cpp) gives the tensors of a
    /// BLOOM model: every per-tensor rule in one function.
    ///
    /// Rules for BLOOM (one KV head per query head, no experts, not Falcon), quantized file types only:
    /// - the head (output.weight, or token_embd when the head is tied to it): Q8_0 when its rows do not fit the
    ///   base type's blocks, else Q6_K unless the base type is Q8_0;
    /// - attn_qkv, counted in block order (i of n): Q2_K → Q3_K; Q3_K_M → Q5_K for i < 2, else Q4_K;
    ///   Q3_K_L → Q5_K; Q4_K_M and Q5_K_M → Q6_K where `moreBits(i, n)`; Q4_K_S → Q5_K for i < 4;
    /// - ffn_down, counted in block order (i of the block count): Q2_K → Q3_K; Q3_K_M → Q5_K for i < n/16, else
    ///   Q4_K; Q3_K_L → Q5_K; Q4_K_M and Q5_K_M → Q6_K where `moreBits(i, n)`; Q4_K_S → Q5_K for i < n/8; with an
    ///   importance matrix, Q4_0 → Q4_1 and Q5_0 → Q5_1 for i < n/8;
    /// - attn_output: Q2_K → Q3_K; Q3_K_M → Q4_K; Q3_K_L → Q5_K;
    /// - then, rows (ne[0]) not a multiple of the type's block: Q2_K/Q3_K → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1,
    ///   Q6_K → Q8_0, and F16 when even that does not fit.
    /// A tensor a `--tensor-type` pattern names skips the rules (and does not count in i), as does every tensor
    /// with `pure`; the fallback still applies. `--embedding-type`/`--output-tensor-type` are taken as given
    /// (F16 when rows do not fit their blocks; llama-quantize has no fallback there). Unlike llama-quantize, patterns
    /// also apply to F32/F16/BF16 files.
    ///
    /// - Parameters:
    ///   - tensors: GGUF names and `ne`, in any order (the counters follow llama.cpp's: block, then name).
    ///   - blockCount: the model's block count (ffn_down's n).
    /// - Returns: per tensor, its choice, or nil for a tensor that is not quantized (1-D, norms, biases: kept as
    ///   they are); and the patterns that match no quantizable tensor.
    /// - Throws: `.invalidArgument` for a pattern that is not a regular expression.
    func tensorTypes(_ tensors: [(name: String, ne: [Int])], blockCount: Int, overrides: TensorTypeOverrides)
        throws -> (choices: [TensorTypeChoice?], unmatchedPatterns: [String]) {
        // LinearRegex: a user's pattern cannot backtrack for minutes.
        let patterns = try overrides.patterns.map { p in
            do { return (regex: try LinearRegex(p.pattern), type: p.type) } catch let error as BloomError {
                throw BloomError(.invalidArgument, "--tensor-type \(error.message)")
            }
        }
        // Weights only (llama-quantize's categories match "attn_qkv.weight", …); biases and foreign names: nil.
        let kinds = tensors.map { t in BloomTensorName(gguf: t.name).flatMap { $0.isBias ? nil : $0.kind } }
        let tied = !kinds.contains(.output)
        let qkvCount = kinds.filter { $0 == .attentionQKV }.count
        let layers = tensors.map { layer($0.name) }  // parsed once, not per comparison
        let order = tensors.indices.sorted { a, b in
            layers[a] != layers[b] ? layers[a] < layers[b] : tensors[a].name < tensors[b].name
        }
        var qkvSeen = 0, ffnDownSeen = 0
        var matched = Set<Int>()
        var choices = [TensorTypeChoice?](repeating: nil, count: tensors.count)
        for k in order {
            let (name, ne) = tensors[k]
            guard BloomTensorNames.isQuantizable(name, ne: ne), let rowLength = ne.first else { continue }
            let kind = kinds[k]
            let pattern = patterns.indices.first { patterns[$0].regex.matches(in: name) }
            if let pattern { matched.insert(pattern) }
            if kind == .tokenEmbedding, let t = overrides.embeddingType {
                choices[k] = Self.fitted(t, rowLength)
                continue
            }
            if kind == .output, let t = overrides.outputType {
                choices[k] = Self.fitted(t, rowLength)
                continue
            }
            var type = baseType
            if let pattern {
                type = patterns[pattern].type
            } else if !overrides.pure && baseType.isBlockType {
                switch kind {
                case .output, .tokenEmbedding:
                    // token_embd is the head when the file has no output.weight; untied, no rule touches it.
                    guard kind == .output || tied else { break }
                    if let t = overrides.outputType {
                        type = t
                    } else {
                        type = rowLength % baseType.blockLayout.elements != 0 || baseType == .Q8_0 ? .Q8_0 : .Q6_K
                    }
                case .attentionQKV:
                    type = attentionQKVType(qkvSeen, of: qkvCount) ?? type
                    qkvSeen += 1
                case .ffnDown:
                    type = feedForwardDownType(ffnDownSeen, of: blockCount, hasImportance: overrides.hasImportance)
                        ?? type
                    ffnDownSeen += 1
                case .attentionOutput:
                    type = attentionOutputType ?? type
                default:
                    break
                }
            }
            choices[k] = Self.fallback(type, rowLength)
        }
        let unmatched = overrides.patterns.indices.filter { !matched.contains($0) }
            .map { overrides.patterns[$0].pattern }
        return (choices, unmatched)
    }

    /// The block of `blk.N.…` names, -1 for others: llama.cpp's order of tensors (`weight_name_comparer`).
    private func layer(_ name: String) -> Int {
        guard name.hasPrefix("blk."), let dot = name.dropFirst(4).firstIndex(of: "."),
              let n = Int(name[name.index(name.startIndex, offsetBy: 4)..<dot]) else { return -1 }
        return n
    }

    /// llama-quantize's `use_more_bits`: the first and last eighth of the layers, and every third one between.
    static func moreBits(_ i: Int, _ n: Int) -> Bool {
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    }

    private func attentionQKVType(_ i: Int, of n: Int) -> GGMLType? {
        switch self {
        case .Q2_K: return .Q3_K
        case .Q3_K_M: return i < 2 ? .Q5_K : .Q4_K
        case .Q3_K_L: return .Q5_K
        case .Q4_K_M, .Q5_K_M: return Self.moreBits(i, n) ? .Q6_K : nil
        case .Q4_K_S: return i < 4 ? .Q5_K : nil
        default: return nil
        }
    }

    private func feedForwardDownType(_ i: Int, of n: Int, hasImportance: Bool) -> GGMLType? {
        switch self {
        case .Q4_0 where hasImportance: return i < n / 8 ? .Q4_1 : nil
        case .Q5_0 where hasImportance: return i < n / 8 ? .Q5_1 : nil
        case .Q2_K: return .Q3_K
        case .Q3_K_M: return i < n / 16 ? .Q5_K : .Q4_K
        case .Q3_K_L: return .Q5_K
        case .Q4_K_M, .Q5_K_M: return Self.moreBits(i, n) ? .Q6_K : nil
        case .Q4_K_S: return i < n / 8 ? .Q5_K : nil
        default: return nil
        }
    }

    private var attentionOutputType: GGMLType? {
        switch self {
        case .Q2_K: return .Q3_K
        case .Q3_K_M: return .Q4_K
        case .Q3_K_L: return .Q5_K
        default: return nil
        }
    }

    /// llama-quantize's `tensor_type_fallback` for rows of `rowLength` values.
    static func fallback(_ type: GGMLType, _ rowLength: Int) -> TensorTypeChoice {
        guard rowLength % type.blockLayout.elements != 0 else { return TensorTypeChoice(type: type) }
        let smaller: GGMLType
        switch type {
        case .Q2_K, .Q3_K: smaller = .Q4_0
        case .Q4_K: smaller = .Q5_0
        case .Q5_K: smaller = .Q5_1
        case .Q6_K: smaller = .Q8_0
        default: smaller = type
        }
        if smaller != type, rowLength % smaller.blockLayout.elements == 0 {
            return TensorTypeChoice(type: smaller, note: "ne[0] = \(rowLength) is not a multiple of \(type.name)'s "
                                        + "block of \(type.blockLayout.elements); stored as \(smaller.name)")
        }
        return fitted(type, rowLength)
    }

    /// `type` as given, or F16 when rows do not fit its blocks.
    static func fitted(_ type: GGMLType, _ rowLength: Int) -> TensorTypeChoice {
        guard rowLength % type.blockLayout.elements != 0 else { return TensorTypeChoice(type: type) }
        return TensorTypeChoice(type: .F16, note: "ne[0] = \(rowLength) is not a multiple of \(type.name)'s block of "
                                    + "\(type.blockLayout.elements); stored as f16")
    }
}

extension GGMLType {
    /// Whether values are stored in blocks (ggml_is_quantized).
    var isBlockType: Bool { blockLayout.elements > 1 }
}
