import BloomCore

/// The one table of BLOOM tensor names shared by the converter and the runtime (llama.cpp's `LLM_ARCH_BLOOM`
/// names, gguf-py tensor_mapping.py): Hugging Face name ⇄ GGUF name, and the tensors a BLOOM GGUF holds with
/// the `ne` (ggml order, innermost first) llama.cpp's loader requires.
public enum BloomTensorNames {
    /// Tensors outside the blocks: Hugging Face stem (after `transformer.`) ⇄ GGUF stem.
    static let global: [(hf: String, gguf: String)] = [
        ("word_embeddings", "token_embd"),
        ("word_embeddings_layernorm", "token_embd_norm"),
        ("ln_f", "output_norm"),
    ]
    /// Tensors of block N: `h.N.<hf>` ⇄ `blk.N.<gguf>`.
    static let perLayer: [(hf: String, gguf: String)] = [
        ("input_layernorm", "attn_norm"),
        ("self_attention.query_key_value", "attn_qkv"),
        ("self_attention.dense", "attn_output"),
        ("post_attention_layernorm", "ffn_norm"),
        ("mlp.dense_h_to_4h", "ffn_up"),
        ("mlp.dense_4h_to_h", "ffn_down"),
    ]

    public static let tokenEmbedding = "token_embd.weight"
    public static let output = "output.weight"
    /// `lm_head.weight` — the untied output head of BloomForCausalLM (outside `transformer.`).
    public static let hfOutput = "lm_head.weight"

    /// `blk.N.<stem>.<suffix>`, e.g. `layer("attn_qkv", 3)` = `blk.3.attn_qkv.weight`.
    public static func layer(_ stem: String, _ n: Int, _ suffix: String = "weight") -> String { "blk.\(n).\(stem).\(suffix)" }

    /// The GGUF name of a Hugging Face BLOOM tensor (with or without the `transformer.` prefix), or nil if BLOOM
    /// has no such tensor. `lm_head.weight` maps to `output.weight`.
    public static func ggufName(forHF name: String) -> String? {
        if name == hfOutput { return output }
        var rest = Substring(name)
        if rest.hasPrefix("transformer.") { rest = rest.dropFirst("transformer.".count) }
        guard let dot = rest.lastIndex(of: ".") else { return nil }
        let suffix = rest[rest.index(after: dot)...]
        guard suffix == "weight" || suffix == "bias" else { return nil }
        let stem = rest[..<dot]
        if let g = global.first(where: { $0.hf == stem }) { return "\(g.gguf).\(suffix)" }
        guard stem.hasPrefix("h.") else { return nil }
        let afterH = stem.dropFirst(2)
        guard let dot2 = afterH.firstIndex(of: "."), let n = Int(afterH[..<dot2]), n >= 0,
              String(n) == afterH[..<dot2] else { return nil }
        let inner = afterH[afterH.index(after: dot2)...]
        guard let p = perLayer.first(where: { $0.hf == inner }) else { return nil }
        return layer(p.gguf, n, String(suffix))
    }

    /// The Hugging Face name (`transformer.`-prefixed, as BloomForCausalLM stores it) of a GGUF BLOOM tensor.
    public static func hfName(forGGUF name: String) -> String? {
        if name == output { return hfOutput }
        guard let parts = split(gguf: name) else { return nil }
        if let n = parts.layer {
            guard let p = perLayer.first(where: { $0.gguf == parts.stem }) else { return nil }
            return "transformer.h.\(n).\(p.hf).\(parts.suffix)"
        }
        guard let g = global.first(where: { $0.gguf == parts.stem }) else { return nil }
        return "transformer.\(g.hf).\(parts.suffix)"
    }

    /// What a weight does, for rules that treat tensors by role (llama-quantize's type mixes).
    public enum Role: Sendable, Equatable {
        case tokenEmbedding, output, attentionQKV, attentionOutput, feedForwardUp, feedForwardDown
        /// Norms, biases, and names BLOOM does not have.
        case other
    }

    /// The role and block index of a GGUF BLOOM tensor: `blk.3.ffn_down.weight` is (.feedForwardDown, 3),
    /// `token_embd.weight` (.tokenEmbedding, nil); anything else (.other, its block if it has one).
    public static func role(ofGGUF name: String) -> (role: Role, layer: Int?) {
        if name == tokenEmbedding { return (.tokenEmbedding, nil) }
        if name == output { return (.output, nil) }
        guard let parts = split(gguf: name) else { return (.other, nil) }
        guard let layer = parts.layer, parts.suffix == "weight" else { return (.other, parts.layer) }
        switch parts.stem {
        case "attn_qkv": return (.attentionQKV, layer)
        case "attn_output": return (.attentionOutput, layer)
        case "ffn_up": return (.feedForwardUp, layer)
        case "ffn_down": return (.feedForwardDown, layer)
        default: return (.other, layer)
        }
    }

    /// `blk.N.<stem>.<suffix>` → (N, stem, suffix); `<stem>.<suffix>` → (nil, stem, suffix).
    private static func split(gguf name: String) -> (layer: Int?, stem: Substring, suffix: Substring)? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        let suffix = name[name.index(after: dot)...]
        let stem = name[..<dot]
        guard stem.hasPrefix("blk.") else { return (nil, stem, suffix) }
        let afterBlk = stem.dropFirst(4)
        guard let dot2 = afterBlk.firstIndex(of: "."), let n = Int(afterBlk[..<dot2]), n >= 0 else { return nil }
        return (n, afterBlk[afterBlk.index(after: dot2)...], suffix)
    }

    /// Every tensor of a BLOOM GGUF in bloomkit's file order, with the `ne` llama.cpp's loader requires
    /// (5 + 12·layers tensors, plus `output.weight` when the head is not tied).
    public static func expected(_ h: BloomHyperParameters, separateOutput: Bool) -> [(name: String, ne: [Int])] {
        let e = h.embeddingLength, ff = h.feedForwardLength, v = h.vocabSize
        var out: [(String, [Int])] = [
            (tokenEmbedding, [e, v]),             // [vocab, hidden] in torch order
            ("token_embd_norm.weight", [e]), ("token_embd_norm.bias", [e]),
        ]
        for n in 0..<h.blockCount {
            out += [
                (layer("attn_norm", n), [e]), (layer("attn_norm", n, "bias"), [e]),
                (layer("attn_qkv", n), [e, 3 * e]), (layer("attn_qkv", n, "bias"), [3 * e]),  // rows Q|K|V
                (layer("attn_output", n), [e, e]), (layer("attn_output", n, "bias"), [e]),
                (layer("ffn_norm", n), [e]), (layer("ffn_norm", n, "bias"), [e]),
                (layer("ffn_up", n), [e, ff]), (layer("ffn_up", n, "bias"), [ff]),
                (layer("ffn_down", n), [ff, e]), (layer("ffn_down", n, "bias"), [e]),
            ]
        }
        out += [("output_norm.weight", [e]), ("output_norm.bias", [e])]
        if separateOutput { out.append((output, [e, v])) }
        return out
    }

    /// Whether a tensor may be stored in a block-quantized type: 2-D weights only, never norms or biases
    /// (llama.cpp's converter and llama-quantize keep those F32).
    public static func isQuantizable(_ name: String, ne: [Int]) -> Bool {
        ne.count >= 2 && name.hasSuffix(".weight") && !name.hasSuffix("_norm.weight")
    }

    /// Whether a tensor must be F32 (1-D tensors, norms and biases), as llama.cpp's converter forces.
    public static func mustBeF32(_ name: String, ne: [Int]) -> Bool {
        ne.count <= 1 || !name.hasSuffix(".weight") || name.hasSuffix("_norm.weight")
    }
}
