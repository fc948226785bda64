import BloomGGUF

/// llama.cpp's LoRA adapter GGUF (convert_lora_to_gguf.py writes it, src/llama-adapter.cpp loads it), as bloomkit
/// writes and reads it for BLOOM: the keys, the tensor names and the shapes, held once for converter and runtime.
///
/// A file holds, for each adapted weight `W` (`blk.N.attn_qkv.weight`, ne [in, out]), a pair
/// `blk.N.attn_qkv.weight.lora_a` (ne [in, r]: torch [r, in]) and `….lora_b` (ne [r, out]: torch [out, r]), in the
/// base file's row order (fused QKV rows Q|K|V). llama.cpp computes `W·x + s·B·(A·x)` with
/// `s = scale · alpha / r` (r = lora_b's ne[0]), or `s = scale` when alpha is 0.
public enum BloomLoRAProfile {
    /// `general.type` of an adapter file.
    public static let generalType = "adapter"
    /// `adapter.type`: STRING "lora".
    public static let adapterTypeKey = "adapter.type"
    public static let lora = "lora"
    /// `adapter.lora.alpha`: FLOAT32; 0 means "scale 1" (bloomkit writes 0 when it folded per-module scales into B).
    public static let alphaKey = "adapter.lora.alpha"
    /// Where the adapter came from (its folder's name) and the base it names (`base_model_name_or_path`).
    public static let baseKey = "bloomkit.adapter.base_model"

    /// The base weights an adapter may change: each block's four linear layers (llama.cpp's BLOOM graph applies
    /// adapters to these through build_lora_mm), in file order.
    public static let adaptableKinds: [BloomTensorKind] = [.attentionQKV, .attentionOutput, .ffnUp, .ffnDown]

    public static let suffixA = ".lora_a"
    public static let suffixB = ".lora_b"

    /// The base hyper-parameters an adapter file records (bloom.* keys, llama.cpp ignores them): enough to check
    /// the base at load time, the head count included (the QKV re-layout depends on it).
    public static func baseEntries(_ h: BloomHyperParameters) -> [(String, GGUFValue)] {
        [
            (BloomGGUFKeys.embeddingLength, .uint32(UInt32(h.embeddingLength))),
            (BloomGGUFKeys.feedForwardLength, .uint32(UInt32(h.feedForwardLength))),
            (BloomGGUFKeys.blockCount, .uint32(UInt32(h.blockCount))),
            (BloomGGUFKeys.headCount, .uint32(UInt32(h.headCount))),
        ]
    }

    /// A pair's tensor names for base weight `weight`.
    public static func pairNames(_ weight: String) -> (a: String, b: String) { (weight + suffixA, weight + suffixB) }

    /// Splits an adapter tensor name into the base weight and the factor (true for lora_a), or nil.
    public static func split(_ name: String) -> (weight: String, isA: Bool)? {
        if name.hasSuffix(suffixA) { return (String(name.dropLast(suffixA.count)), true) }
        if name.hasSuffix(suffixB) { return (String(name.dropLast(suffixB.count)), false) }
        return nil
    }

    /// The block and kind of an adaptable base weight (`blk.3.ffn_up.weight` → (3, .ffnUp)), or nil.
    public static func adaptable(_ weight: String) -> (block: Int, kind: BloomTensorKind)? {
        guard let name = BloomTensorName(gguf: weight), !name.isBias, adaptableKinds.contains(name.kind),
              let block = name.layer else { return nil }
        return (block, name.kind)
    }

    /// The `ne` ([in, out]) of an adaptable weight in a BLOOM with these hyper-parameters; nil past its blocks.
    public static func weightNE(_ weight: String, _ h: BloomHyperParameters) -> [Int]? {
        guard let (block, kind) = adaptable(weight), block < h.blockCount else { return nil }
        return kind.ne(h)
    }
}
