import BloomCore

/// The fused attention projection's row order. Hugging Face stores `query_key_value` ([3·hidden, hidden] weight,
/// [3·hidden] bias) head-interleaved: row `h·3·d + t·d + i` (t ∈ q,k,v; d = head_dim). llama.cpp (and bloomkit's
/// GGUF) stores it as all Q rows, then all K, then all V: row `t·hidden + h·d + i`. The re-layout is a permutation
/// of whole rows, so it works on row chunks and on bias elements alike (a bias is rows of length 1).
public struct QKVLayout: Sendable, Equatable {
    public let headCount: Int
    public let headDim: Int

    public init(headCount: Int, headDim: Int) {
        self.headCount = headCount
        self.headDim = headDim
    }

    public var hidden: Int { headCount * headDim }
    /// Rows of the fused tensor (3·hidden).
    public var rowCount: Int { 3 * hidden }

    /// The Hugging Face row that GGUF row `g` comes from.
    public func hfRow(ofGGUFRow g: Int) -> Int {
        let t = g / hidden, h = (g % hidden) / headDim, i = g % headDim
        return h * 3 * headDim + t * headDim + i
    }

    /// The GGUF row that Hugging Face row `f` goes to.
    public func ggufRow(ofHFRow f: Int) -> Int {
        let h = f / (3 * headDim), t = (f % (3 * headDim)) / headDim, i = f % headDim
        return t * hidden + h * headDim + i
    }

    /// GGUF rows `[start, start+count)` as runs of consecutive Hugging Face rows: (hf start, gguf start, length).
    /// Each run is at most one head's `headDim` rows, so a chunk reader issues few, contiguous reads.
    public func hfRuns(ggufRows start: Int, count: Int) -> [(hf: Int, gguf: Int, length: Int)] {
        var runs: [(Int, Int, Int)] = []
        var g = start
        let end = start + count
        while g < end {
            let length = min(headDim - g % headDim, end - g)
            runs.append((hfRow(ofGGUFRow: g), g, length))
            g += length
        }
        return runs
    }

    /// Re-lays a whole tensor from Hugging Face order to GGUF order (`rowLength` = hidden for the weight, 1 for the
    /// bias).
    public func toGGUF(_ values: [Float], rowLength: Int) -> [Float] {
        permute(values, rowLength: rowLength, source: hfRow(ofGGUFRow:))
    }

    /// The inverse: GGUF order back to Hugging Face order.
    public func toHF(_ values: [Float], rowLength: Int) -> [Float] {
        permute(values, rowLength: rowLength, source: ggufRow(ofHFRow:))
    }

    private func permute(_ values: [Float], rowLength: Int, source: (Int) -> Int) -> [Float] {
        precondition(values.count == rowCount * rowLength,
                     "QKV tensor has \(values.count) elements, expected \(rowCount) × \(rowLength)")
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rowCount {
            let s = source(r) * rowLength
            out[(r * rowLength)..<((r + 1) * rowLength)] = values[s..<(s + rowLength)]
        }
        return out
    }
}
