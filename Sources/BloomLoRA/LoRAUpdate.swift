import BloomCore

/// One low-rank update of one base weight `W [out, in]`: `W' = W + scaling · (B · A)`, computed in f32,
/// a few rows at a time, in Hugging Face's own row order (before any re-layout of fused QKV).
///
/// Each delta element is PEFT's `W + (B @ A) * scaling` in f32: the product `B @ A` as PyTorch's CPU matmul (MKL) and
/// its 1×1 convolution compute it for small ranks — a chain of fused multiply-adds over `c` in order,
/// `acc = fma(B[o, c], A[c, j], acc)` — then one f32 multiply by `scaling` and one f32 add to `W`. Seen bit-identical
/// to PEFT on the fixtures; rounding once, in the output dtype, happens when the result is stored.
public struct LoRAUpdate: Sendable {
    /// Where the rows of `B · A` go in `W`.
    public enum Layout: Sendable, Equatable {
        /// Current PEFT (`lora_A` [r, in], `lora_B` [out, r]): the delta covers every row.
        case linear
        /// PEFT ≤ 0.2 `MergedLinear` (`enable_lora`): `lora_A` [r·k, in] and `lora_B` [out/n·k, r·k/groups, 1] form a grouped
        /// 1×1 convolution (k enabled of n equal row blocks). Delta row `o` belongs to group `o / (out/n·k/groups)` and sums over
        /// that group's `r·k/groups` rows of A; the `out/n·k` delta rows fill the enabled blocks of W in order, the others get zero.
        case fused(enabled: [Bool], groups: Int)
    }

    /// The weight this update changes, as the adapter names it (`transformer.h.0.self_attention.query_key_value.weight`).
    public let weightName: String
    public let outFeatures: Int
    public let inFeatures: Int
    /// The rank per module (`r`, or the rank_pattern override); A holds `rank` rows per enabled block.
    public let rank: Int
    /// `alpha / r`, or `alpha / √r` with rsLoRA, rounded once to f32 as PyTorch does for a Python float times an f32 tensor.
    public let scaling: Float
    public let layout: Layout

    let a: [Double]                  // [aRows, in], f32 values widened (products of two f32 are exact in f64)
    let b: [Double]                  // [bRows, bColumns]
    let bColumns: Int                // r (linear) or r·k/groups (fused)
    private let blockRows: Int       // out (linear) or out/n (fused)
    let groupRows: Int               // delta rows per group: bRows (linear) or bRows/groups (fused)
    private let enabledIndex: [Int?] // fused: the index among enabled blocks of each of the n blocks

    /// Builds an update from A and B as stored, checking that their shapes agree with each other and with `layout`.
    /// - Parameters:
    ///   - a: `lora_A` values, row-major, shape `aShape` ([r, in] or [r·k, in]).
    ///   - b: `lora_B` values, row-major, shape `bShape` ([out, r], or [out/n·k, r·k/groups, 1] for `.fused`).
    ///   - rank: the module's rank from the config (cross-checked against A's rows).
    /// - Throws: `loraInvalidAdapter` naming the tensor when the shapes contradict each other or the config.
    public init(weightName: String, a: [Float], aShape: [Int], b: [Float], bShape: [Int], rank: Int, scaling: Float,
                layout: Layout) throws {
        func invalid(_ message: String) -> BloomError {
            BloomError(.loraInvalidAdapter, message, location: weightName)
        }
        guard aShape.count == 2, aShape.allSatisfy({ $0 > 0 }), a.count == aShape[0] * aShape[1] else {
            throw invalid("lora_A has shape \(aShape); expected [rank, in_features]")
        }
        let (aRows, inFeatures) = (aShape[0], aShape[1])
        switch layout {
        case .linear:
            guard bShape.count == 2, bShape.allSatisfy({ $0 > 0 }), b.count == bShape[0] * bShape[1] else {
                throw invalid("lora_B has shape \(bShape); expected [out_features, rank]")
            }
            guard aRows == rank, bShape[1] == rank else {
                throw invalid("lora_A \(aShape) and lora_B \(bShape) do not have the configured rank \(rank)")
            }
            outFeatures = bShape[0]
            bColumns = rank
            blockRows = outFeatures
            groupRows = outFeatures
            enabledIndex = []
        case .fused(let enabled, let groups):
            let k = enabled.filter { $0 }.count
            guard k > 0, groups > 0 else { throw invalid("enable_lora \(enabled) enables no block") }
            guard bShape.count == 3, bShape[2] == 1, bShape[0] > 0, bShape[1] > 0, b.count == bShape[0] * bShape[1] else {
                throw invalid("lora_B has shape \(bShape); the enable_lora layout stores [out/n·k, r·k/groups, 1]")
            }
            // rank comes from adapter_config.json: the product may overflow.
            let (expectedRows, overflow) = rank.multipliedReportingOverflow(by: k)
            guard !overflow, aRows == expectedRows else {
                throw invalid("lora_A has \(aRows) rows; rank \(rank) × \(k) enabled blocks is \(overflow ? "past Int" : String(expectedRows))")
            }
            guard aRows == bShape[1] * groups, bShape[0] % groups == 0, bShape[0] % k == 0 else {
                throw invalid("lora_A \(aShape) and lora_B \(bShape) do not form a grouped convolution with \(groups) groups")
            }
            blockRows = bShape[0] / k
            outFeatures = blockRows * enabled.count
            bColumns = bShape[1]
            groupRows = bShape[0] / groups
            var index: [Int?] = []
            var next = 0
            for on in enabled {
                index.append(on ? next : nil)
                if on { next += 1 }
            }
            enabledIndex = index
        }
        self.weightName = weightName
        self.inFeatures = inFeatures
        self.rank = rank
        self.scaling = scaling
        self.layout = layout
        self.a = a.map(Double.init)
        self.b = b.map(Double.init)
    }

    /// Adds rows `[start, start+count)` of `scaling · (B · A)`, placed as in W, to `dst` (`count × inFeatures` floats
    /// holding those rows of W). Rows outside the enabled blocks are left alone.
    public func addDelta(rows start: Int, count: Int, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(start >= 0 && count >= 0 && start + count <= outFeatures && dst.count == count * inFeatures,
                     "addDelta rows [\(start), \(start + count)) of \(weightName)")
        guard count > 0, let out = dst.baseAddress else { return }
        let width = inFeatures
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: width)
        defer { sums.deallocate() }
        a.withUnsafeBufferPointer { aBuf in
            b.withUnsafeBufferPointer { bBuf in
                guard let aBase = aBuf.baseAddress, let bBase = bBuf.baseAddress else { return }
                for row in start..<(start + count) {
                    guard let deltaRow = deltaRow(ofWeightRow: row) else { continue }
                    let group = deltaRow / groupRows
                    LoRAUpdate.addRow(out + (row - start) * width, sums: sums,
                                      b: bBase + deltaRow * bColumns, a: aBase + group * bColumns * width,
                                      terms: bColumns, width: width, scaling: scaling)
                }
            }
        }
    }

    /// The row of `B · A` that lands on row `row` of W, or nil in a disabled block.
    func deltaRow(ofWeightRow row: Int) -> Int? {
        guard case .fused = layout else { return row }
        guard let e = enabledIndex[row / blockRows] else { return nil }
        return e * blockRows + row % blockRows
    }

    /// `dst[j] += Float(Σ_c b[c] · a[c·width + j]) · scaling`, the sum a chain of fused multiply-adds in order of c.
    /// An f32 FMA without FMA instructions (the package builds for baseline x86-64): the product of two f32 values is
    /// exact in f64, the f64 sum is rounded to f32 — the same as a true FMA except in rare double-rounding ties.
    @inline(__always)
    private static func addRow(_ dst: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Double>,
                               b: UnsafePointer<Double>, a: UnsafePointer<Double>, terms: Int, width: Int, scaling: Float) {
        let b0 = b[0]
        for j in 0..<width { sums[j] = Double(Float(b0 * a[j])) }
        for c in 1..<max(terms, 1) {
            let bc = b[c]
            let ac = a + c * width
            for j in 0..<width { sums[j] = Double(Float(bc * ac[j] + sums[j])) }
        }
        for j in 0..<width { dst[j] += Float(sums[j]) * scaling }
    }
}
