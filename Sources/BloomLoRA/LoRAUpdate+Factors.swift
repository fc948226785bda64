extension LoRAUpdate {
    /// The update as one plain low-rank pair in W's (Hugging Face) row order: `delta = scaling · B·A` with
    /// A [factorRank, in] and B [out, factorRank], row-major, the values stored in the adapter (unscaled).
    ///
    /// Current layout: A and B as stored (factorRank = r). 2023 layout: A as stored ([r·k, in], factorRank = r·k)
    /// and B expanded from the grouped convolution: weight row w of an enabled block takes delta row d's
    /// coefficients in the columns of d's group (the other columns zero); rows of disabled blocks are all zero.
    /// Either way `Σ_c B[w, c]·A[c, j]` is the delta `addDelta` adds (before scaling), term for term.
    public var factors: (a: [Float], b: [Float], rank: Int) {
        let a32 = a.map(Float.init)  // widened from f32: exact
        guard case .fused = layout else { return (a32, b.map(Float.init), bColumns) }
        let rank = a.count / inFeatures
        var full = [Float](repeating: 0, count: outFeatures * rank)
        for row in 0..<outFeatures {
            guard let d = deltaRow(ofWeightRow: row) else { continue }
            let column = (d / groupRows) * bColumns
            for c in 0..<bColumns { full[row * rank + column + c] = Float(b[d * bColumns + c]) }
        }
        return (a32, full, rank)
    }
}
