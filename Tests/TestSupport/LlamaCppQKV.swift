/// llama.cpp's BLOOM converter re-layout of a fused query_key_value tensor (Hugging Face rows, `rowLength` values
/// each): reshape (n_head, 3, head_dim, n_embd), then concatenate [:, 0], [:, 1], [:, 2] — all Q, all K, all V.
/// The reference the arch and convert tests check `QKVLayout` and converted files against.
public func llamaCppQKV(_ w: [Float], heads: Int, headDim: Int, rowLength: Int) -> [Float] {
    var out: [Float] = []
    for t in 0..<3 {
        for h in 0..<heads {
            for d in 0..<headDim {
                let row = (h * 3 + t) * headDim + d
                out += w[(row * rowLength)..<((row + 1) * rowLength)]
            }
        }
    }
    return out
}
