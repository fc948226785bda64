/// BLOOM tensor names as the converter and the runtime use them, all derived from the one table, `BloomTensorKind`
/// (llama.cpp's `LLM_ARCH_BLOOM` names, gguf-py tensor_mapping.py): Hugging Face name ⇄ GGUF name, and the tensors a
/// BLOOM GGUF holds with the `ne` (ggml order, innermost first) llama.cpp's loader requires.
public enum BloomTensorNames {
    public static let tokenEmbedding = BloomTensorKind.tokenEmbedding.ggufName()
    public static let output = BloomTensorKind.output.ggufName()
    /// `lm_head.weight` — the untied output head of BloomForCausalLM (outside `transformer.`).
    public static let hfOutput = BloomTensorName(kind: .output).hf

    /// The GGUF name of a Hugging Face BLOOM tensor (with or without the `transformer.` prefix), or nil if BLOOM
    /// has no such tensor. `lm_head.weight` maps to `output.weight`.
    public static func ggufName(forHF name: String) -> String? { BloomTensorName(hf: name)?.gguf }

    /// The Hugging Face name (`transformer.`-prefixed, as BloomForCausalLM stores it) of a GGUF BLOOM tensor.
    public static func hfName(forGGUF name: String) -> String? { BloomTensorName(gguf: name)?.hf }

    /// Which kind of tensor a GGUF name is, and in which block: `blk.3.ffn_down.weight` is (`.ffnDown`, 3),
    /// `output.weight` is (`.output`, nil); nil for a name BLOOM does not have. For per-tensor rules (quantization
    /// types) that depend on the kind and the layer.
    public static func kind(ofGGUF name: String) -> (kind: BloomTensorKind, layer: Int?)? {
        BloomTensorName(gguf: name).map { ($0.kind, $0.layer) }
    }

    /// Every tensor of a BLOOM GGUF in bloomkit's file order, with the `ne` llama.cpp's loader requires
    /// (5 + 12·layers tensors, plus `output.weight` when the head is not tied).
    public static func expected(_ h: BloomHyperParameters, separateOutput: Bool) -> [(name: String, ne: [Int])] {
        func entries(_ kind: BloomTensorKind, _ layer: Int?) -> [(name: String, ne: [Int])] {
            var out = [(kind.ggufName(layer: layer), kind.ne(h))]
            if kind.hasBias { out.append((kind.ggufName(layer: layer, bias: true), kind.ne(h, bias: true))) }
            return out
        }
        let kinds = BloomTensorKind.allCases
        let before = kinds.prefix { !$0.isPerLayer }
        let perLayer = kinds.filter(\.isPerLayer)
        let after = kinds.drop { !$0.isPerLayer }.drop(while: \.isPerLayer).filter { separateOutput || $0 != .output }
        var out = before.flatMap { entries($0, nil) }
        for n in 0..<h.blockCount { out += perLayer.flatMap { entries($0, n) } }
        return out + after.flatMap { entries($0, nil) }
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
