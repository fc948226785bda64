/// The kinds of tensor a BLOOM model holds, in file order, each with its Hugging Face and GGUF spellings (llama.cpp's
/// `LLM_ARCH_BLOOM` tensors in llama-arch.cpp, gguf-py's tensor_mapping.py). Every tensor name the converter writes
/// and the runtime requires is spelled here and nowhere else.
public enum BloomTensorKind: String, CaseIterable, Sendable {
    case tokenEmbedding, tokenEmbeddingNorm
    case attentionNorm, attentionQKV, attentionOutput, ffnNorm, ffnUp, ffnDown
    case outputNorm, output

    /// The GGUF stem: `<stem>.weight`, or `blk.N.<stem>.weight` for a block's tensor.
    public var ggufStem: String {
        switch self {
        case .tokenEmbedding: "token_embd"
        case .tokenEmbeddingNorm: "token_embd_norm"
        case .attentionNorm: "attn_norm"
        case .attentionQKV: "attn_qkv"
        case .attentionOutput: "attn_output"
        case .ffnNorm: "ffn_norm"
        case .ffnUp: "ffn_up"
        case .ffnDown: "ffn_down"
        case .outputNorm: "output_norm"
        case .output: "output"
        }
    }

    /// The Hugging Face stem: `transformer.<stem>.weight`, `transformer.h.N.<stem>.weight` for a block's tensor,
    /// and `lm_head.weight` (outside `transformer.`) for the output head.
    public var hfStem: String {
        switch self {
        case .tokenEmbedding: "word_embeddings"
        case .tokenEmbeddingNorm: "word_embeddings_layernorm"
        case .attentionNorm: "input_layernorm"
        case .attentionQKV: "self_attention.query_key_value"
        case .attentionOutput: "self_attention.dense"
        case .ffnNorm: "post_attention_layernorm"
        case .ffnUp: "mlp.dense_h_to_4h"
        case .ffnDown: "mlp.dense_4h_to_h"
        case .outputNorm: "ln_f"
        case .output: "lm_head"
        }
    }

    /// Whether there is one per block (`blk.N.`, `h.N.`).
    public var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .tokenEmbeddingNorm, .outputNorm, .output: false
        default: true
        }
    }

    /// Whether the kind has a `.bias` besides its `.weight` (every kind but the embedding and the output head).
    public var hasBias: Bool { self != .tokenEmbedding && self != .output }

    /// Whether the kind is a layer norm (weight and bias 1-D, kept F32).
    public var isNorm: Bool {
        self == .tokenEmbeddingNorm || self == .attentionNorm || self == .ffnNorm || self == .outputNorm
    }

    /// The `ne` (ggml order, innermost first) llama.cpp's loader requires of the weight, and of the bias.
    public func ne(_ h: BloomHyperParameters, bias: Bool = false) -> [Int] {
        let e = h.embeddingLength, ff = h.feedForwardLength
        // (input, output) of the matrix; the bias has the output's length, a norm is [hidden] throughout.
        let (input, output): (Int, Int)
        switch self {
        case .tokenEmbedding, .output: (input, output) = (e, h.vocabSize)  // [vocab, hidden] in torch order
        case .tokenEmbeddingNorm, .attentionNorm, .ffnNorm, .outputNorm: return [e]
        case .attentionQKV: (input, output) = (e, 3 * e)  // rows Q|K|V
        case .attentionOutput: (input, output) = (e, e)
        case .ffnUp: (input, output) = (e, ff)
        case .ffnDown: (input, output) = (ff, e)
        }
        return bias ? [output] : [input, output]
    }

    /// The GGUF name of this kind's weight (or bias) in block `layer` (ignored for the kinds outside the blocks).
    public func ggufName(layer: Int? = nil, bias: Bool = false) -> String {
        BloomTensorName(kind: self, layer: layer, isBias: bias).gguf
    }
}

/// One tensor of a BLOOM model: its kind, block and part, with both spellings.
public struct BloomTensorName: Hashable, Sendable {
    public var kind: BloomTensorKind
    /// The block, for the per-layer kinds; nil otherwise.
    public var layer: Int?
    /// `.bias` rather than `.weight`.
    public var isBias: Bool

    /// - Precondition: `layer` is given (and non-negative) exactly when `kind` is per layer, and `isBias` only for
    ///   a kind that has a bias.
    public init(kind: BloomTensorKind, layer: Int? = nil, isBias: Bool = false) {
        precondition(kind.isPerLayer == (layer != nil) && (layer ?? 0) >= 0,
                     "\(kind) with layer \(String(describing: layer))")
        precondition(!isBias || kind.hasBias, "\(kind) has no bias")
        self.kind = kind
        self.layer = layer
        self.isBias = isBias
    }

    private var suffix: String { isBias ? "bias" : "weight" }

    /// `token_embd.weight`, `blk.3.attn_qkv.bias`…
    public var gguf: String {
        layer.map { "blk.\($0).\(kind.ggufStem).\(suffix)" } ?? "\(kind.ggufStem).\(suffix)"
    }

    /// As BloomForCausalLM stores it: `transformer.word_embeddings.weight`, `transformer.h.3.…`, `lm_head.weight`.
    public var hf: String {
        if kind == .output { return "\(kind.hfStem).\(suffix)" }
        return layer.map { "transformer.h.\($0).\(kind.hfStem).\(suffix)" } ?? "transformer.\(kind.hfStem).\(suffix)"
    }

    /// Parses a GGUF BLOOM tensor name (`blk.N.<stem>.weight|bias`, `<stem>.weight|bias`); nil for any other name.
    /// This is the lookup per-tensor rules use to ask "which kind, which layer".
    public init?(gguf name: String) {
        self.init(parsing: name, blockPrefix: "blk.", stem: \.ggufStem)
    }

    /// Parses a Hugging Face BLOOM tensor name, with or without the `transformer.` prefix (`lm_head.weight` has none);
    /// nil for any other name.
    public init?(hf name: String) {
        var rest = Substring(name)
        if rest.hasPrefix("transformer.") {
            rest = rest.dropFirst("transformer.".count)
            guard !rest.hasPrefix("lm_head.") else { return nil }
        }
        self.init(parsing: rest, blockPrefix: "h.", stem: \.hfStem)
    }

    private init?(parsing name: some StringProtocol, blockPrefix: String, stem: KeyPath<BloomTensorKind, String>) {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        let part = name[name.index(after: dot)...]
        guard part == "weight" || part == "bias" else { return nil }
        let isBias = part == "bias"
        var body = name[..<dot]
        var layer: Int?
        if body.hasPrefix(blockPrefix) {
            body = body.dropFirst(blockPrefix.count)
            guard let end = body.firstIndex(of: "."), let n = Int(body[..<end]), n >= 0,
                  String(n) == body[..<end] else { return nil }
            layer = n
            body = body[body.index(after: end)...]
        }
        guard let kind = BloomTensorKind.allCases.first(where: { $0[keyPath: stem] == body }),
              kind.isPerLayer == (layer != nil), !isBias || kind.hasBias else { return nil }
        self.init(kind: kind, layer: layer, isBias: isBias)
    }
}
