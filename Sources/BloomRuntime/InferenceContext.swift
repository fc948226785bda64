import BloomArch
import BloomCore
import BloomTokenizer
import CKernels

/// What it takes to run a model: the thread pool, a KV cache for `slotCount` independent sequences (the beams of a
/// beam search; one for plain generation) and the activation buffers, all allocated here once so the token loop
/// allocates nothing.
///
/// Activations are f32. A prompt goes through as matrix-matrix products (up to `batchCapacity` rows at a time);
/// each generated token (or each beam's token) as matrix-vector products.
public final class InferenceContext {
    public let model: BloomModel
    public let pool: ThreadPool
    /// Positions each slot can hold (prompt plus generated tokens).
    public let capacity: Int
    public let slotCount: Int
    /// Rows one forward pass takes at most (longer inputs are split).
    public let batchCapacity: Int
    /// Tokens held in each slot's cache.
    public private(set) var lengths: [Int]
    /// Why: ALiBi has no length limit, but positions index f32 caches and scores; a million is far past any
    /// BLOOM use and keeps every size computation small.
    public static let maxCapacity = 1 << 20
    /// Beams (or sequences) per context.
    public static let maxSlots = 64

    private let hidden: Int, ffn: Int, vocab: Int, headCount: Int, headDim: Int
    private let layerStride: Int    // floats of one layer of one slot: heads × capacity × headDim
    private let slotStride: Int     // floats of one slot: layers × layerStride
    private let kCache: FloatBuffer  // [slot][layer][head][position][headDim]
    private let vCache: FloatBuffer
    private let x: FloatBuffer       // [batch][hidden], the residual stream
    private let normed: FloatBuffer  // [batch][hidden]
    private let qkv: FloatBuffer     // [batch][3·hidden], Q|K|V
    private let attention: FloatBuffer  // [batch][hidden]
    private let ffnBuffer: FloatBuffer  // [batch][4·hidden]
    private var logits: FloatBuffer     // [logitRows][vocab]
    private let rowPositions: UnsafeMutablePointer<Int64>
    private let rowSlots: UnsafeMutablePointer<Int32>
    private let linearScratch: Scratch
    private let loraBuffer: FloatBuffer  // [batch][max LoRA rank], x·Aᵀ of one pair
    private let attentionScratch: Scratch

    /// - Parameters:
    ///   - capacity: positions per slot.
    ///   - slots: independent sequences (beams).
    ///   - batchCapacity: rows per forward pass (the prompt is split into pieces this long).
    /// - Throws: `.invalidRequest` for sizes below 1.
    public init(model: BloomModel, pool: ThreadPool, capacity: Int, slots: Int = 1, batchCapacity: Int = 512) throws {
        guard capacity >= 1, slots >= 1, batchCapacity >= 1 else {
            throw BloomError(.invalidRequest, "context capacity \(capacity), slots \(slots) and batch \(batchCapacity)"
                             + " must be at least 1")
        }
        guard capacity <= Self.maxCapacity, slots <= Self.maxSlots, batchCapacity <= Self.maxCapacity else {
            throw BloomError(.invalidRequest,
                             "context of \(capacity) positions × \(slots) slots (batch \(batchCapacity)) is past"
                             + " the limit of \(Self.maxCapacity) positions and \(Self.maxSlots) slots")
        }
        let hp = model.hyperParameters
        self.model = model
        self.pool = pool
        self.capacity = capacity
        slotCount = slots
        self.batchCapacity = batchCapacity
        lengths = Array(repeating: 0, count: slots)
        hidden = hp.embeddingLength
        ffn = hp.feedForwardLength
        vocab = hp.vocabSize
        headCount = hp.headCount
        headDim = hp.headDim
        layerStride = try Checked.multiply(capacity, hidden, "KV cache size")  // heads × capacity × headDim
        slotStride = try Checked.multiply(hp.blockCount, layerStride, "KV cache size")
        let cacheFloats = try Checked.multiply(slots, slotStride, "KV cache size")
        kCache = try FloatBuffer(count: cacheFloats, zeroed: false)
        vCache = try FloatBuffer(count: cacheFloats, zeroed: false)
        let rows = try Checked.multiply(batchCapacity, hidden, "activation size")
        x = try FloatBuffer(count: rows)
        normed = try FloatBuffer(count: rows)
        qkv = try FloatBuffer(count: try Checked.multiply(3, rows, "activation size"))
        attention = try FloatBuffer(count: rows)
        ffnBuffer = try FloatBuffer(count: try Checked.multiply(batchCapacity, ffn, "activation size"))
        logits = try FloatBuffer(count: try Checked.multiply(slots, vocab, "logits size"), zeroed: false)
        rowPositions = .allocate(capacity: batchCapacity)
        rowSlots = .allocate(capacity: batchCapacity)
        let threads = Int32(pool.threadCount)
        linearScratch = try Scratch(byteCount: bk_linear_scratch_bytes(threads, Int64(batchCapacity),
                                                                       Int64(max(hidden, ffn, model.maxLoRARank))))
        loraBuffer = try FloatBuffer(count: try Checked.multiply(batchCapacity, model.maxLoRARank, "LoRA buffer size"))
        attentionScratch = try Scratch(byteCount: bk_attention_scratch_bytes(threads, Int64(capacity), Int32(headDim)))
    }

    deinit {
        rowPositions.deallocate()
        rowSlots.deallocate()
    }

    /// Sees the input rows of each block matrix product before it runs (llama-imatrix's hook): the matrix kind,
    /// the layer, `rows` rows of `columns` floats `stride` apart. Nil (the default) costs one test per product.
    public var linearInputObserver: ((_ kind: BloomTensorKind, _ layer: Int, _ input: UnsafePointer<Float>,
                                      _ stride: Int, _ rows: Int, _ columns: Int) -> Void)?

    /// Forgets the tokens of a slot.
    public func reset(slot: Int) { lengths[slot] = 0 }

    /// Forgets every slot.
    public func resetAll() { for s in 0..<slotCount { lengths[s] = 0 } }

    /// Appends `tokens` to `slot` and runs them through the model.
    /// - Parameter logitsFrom: the first token (index into `tokens`) whose logits are wanted; logits of every
    ///   later token are returned too. Default: only the last token's.
    /// - Returns: `(tokens.count - logitsFrom) × vocab` logits, valid until the next call.
    /// - Throws: `.invalidRequest` if the slot would overflow or a token id is outside the vocabulary.
    @discardableResult
    public func evaluate(_ tokens: [TokenID], slot: Int = 0,
                         logitsFrom: Int? = nil) throws -> UnsafeBufferPointer<Float> {
        guard !tokens.isEmpty else { throw BloomError(.invalidRequest, "nothing to evaluate: no tokens") }
        guard slot >= 0, slot < slotCount else {
            throw BloomError(.invalidRequest, "slot \(slot) is outside 0..<\(slotCount)")
        }
        let first = logitsFrom ?? tokens.count - 1
        guard first >= 0, first < tokens.count else {
            throw BloomError(.invalidRequest, "logits from token \(first) of \(tokens.count)")
        }
        try checkRoom(slot: slot, adding: tokens.count)
        try checkTokens(tokens)
        try ensureLogitRows(tokens.count - first)
        var start = 0
        while start < tokens.count {
            let m = min(batchCapacity, tokens.count - start)
            for i in 0..<m {
                rowSlots[i] = Int32(slot)
                rowPositions[i] = Int64(lengths[slot] + i)
            }
            let from = max(0, first - start)
            let logitRows = first < start + m ? (from..<m) : (m..<m)
            tokens.withUnsafeBufferPointer { t in
                forward(tokens: t.baseAddress! + start, rows: m, logitRows: logitRows,
                        logitsOffset: max(0, start - first))
            }
            lengths[slot] += m
            start += m
        }
        return try finite(UnsafeBufferPointer(start: logits.pointer, count: (tokens.count - first) * vocab))
    }

    /// Appends one token to each listed slot (the beams of one beam-search step) and runs them as one batch.
    /// - Returns: `slots.count × vocab` logits, row i for slot `slots[i]`, valid until the next call.
    public func evaluate(step tokens: [TokenID], slots: [Int]) throws -> UnsafeBufferPointer<Float> {
        guard tokens.count == slots.count, !tokens.isEmpty, tokens.count <= batchCapacity else {
            throw BloomError(.invalidRequest,
                             "a batch step needs one token per slot (\(tokens.count) tokens, \(slots.count) slots)")
        }
        try checkTokens(tokens)
        for (i, s) in slots.enumerated() {
            guard s >= 0, s < slotCount else {
                throw BloomError(.invalidRequest, "slot \(s) is outside 0..<\(slotCount)")
            }
            try checkRoom(slot: s, adding: 1)
            rowSlots[i] = Int32(s)
            rowPositions[i] = Int64(lengths[s])
        }
        try ensureLogitRows(tokens.count)
        tokens.withUnsafeBufferPointer { t in
            forward(tokens: t.baseAddress!, rows: tokens.count, logitRows: 0..<tokens.count, logitsOffset: 0)
        }
        for s in slots { lengths[s] += 1 }
        return try finite(UnsafeBufferPointer(start: logits.pointer, count: tokens.count * vocab))
    }

    /// `logits`, or `.invalidModel` when one is NaN or infinite (weights holding NaN/Inf, or an overflow): a sampler
    /// would otherwise pick token 0 and the run would end "successfully" with nonsense. The error names the first
    /// tensor of the file holding a non-finite value, when there is one.
    private func finite(_ logits: UnsafeBufferPointer<Float>) throws -> UnsafeBufferPointer<Float> {
        var probe: Float = 0
        for x in logits { probe += x * 0 }  // NaN·0 and Inf·0 are NaN; one pass the compiler vectorizes
        guard probe.isNaN else { return logits }
        let culprit = model.firstNonFiniteTensor()
        throw BloomError(.invalidModel, "the logits are not finite (NaN or Inf)" + (culprit.map {
            ": tensor '\($0)' holds a NaN or an infinity"
        } ?? ": the activations overflow"), path: model.path, location: culprit.map { "tensor '\($0)'" })
    }

    /// Makes slot `to` hold a copy of slot `from`'s cache (a beam taking over its parent's history).
    public func copySlot(from: Int, to: Int) {
        guard from != to else { return }
        let n = lengths[from] * headDim
        for layer in 0..<model.blocks.count {
            for h in 0..<headCount {
                let src = from * slotStride + layer * layerStride + h * capacity * headDim
                let dst = to * slotStride + layer * layerStride + h * capacity * headDim
                (kCache.pointer + dst).update(from: kCache.pointer + src, count: n)
                (vCache.pointer + dst).update(from: vCache.pointer + src, count: n)
            }
        }
        lengths[to] = lengths[from]
    }

    private func checkRoom(slot: Int, adding n: Int) throws {
        guard lengths[slot] + n <= capacity else {
            throw BloomError(.invalidRequest,
                             "context full: \(lengths[slot]) + \(n) tokens exceed the \(capacity) positions")
        }
    }

    private func checkTokens(_ tokens: [TokenID]) throws {
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= vocab }) {
            throw BloomError(.invalidRequest, "token id \(bad) is outside the vocabulary of \(vocab)")
        }
    }

    private func ensureLogitRows(_ rows: Int) throws {
        if logits.count < rows * vocab {
            logits = try FloatBuffer(count: try Checked.multiply(rows, vocab, "logits size"), zeroed: false)
        }
    }

    // MARK: the forward pass (llama.cpp build_bloom; HF BloomForCausalLM)

    /// Runs `rows` tokens (rowSlots/rowPositions set) and writes the logits of `logitRows` to
    /// logits[logitsOffset…].
    private func forward(tokens: UnsafePointer<TokenID>, rows m: Int, logitRows: Range<Int>, logitsOffset: Int) {
        let h = hidden
        let pool = self.pool.pool
        // word embeddings → word_embeddings_layernorm
        withUnsafePointer(to: model.tokenEmbedding.raw) { emb in
            for i in 0..<m { bk_dequantize_row(emb, Int64(tokens[i]), x.pointer + i * h) }
        }
        layerNorm(model.embeddingNorm, x.pointer, x.pointer, rows: m)
        for (l, block) in model.blocks.enumerated() {
            // attention: LN → fused QKV → KV cache → causal ALiBi softmax(QKᵀ)V → dense (+ residual)
            layerNorm(block.attnNorm, x.pointer, normed.pointer, rows: m)
            linearInputObserver?(.attentionQKV, l, normed.pointer, h, m, h)
            linear(block.qkv, normed.pointer, ld: h, rows: m, into: qkv.pointer, ldy: 3 * h, flags: 0)
            storeKeysAndValues(layer: l, rows: m)
            var desc = bk_attention_desc(
                n_head: Int32(headCount), head_dim: Int32(headDim), scale: 1 / Float(headDim).squareRoot(),
                slopes: nil, k_cache: kCache.pointer + l * layerStride, v_cache: vCache.pointer + l * layerStride,
                head_stride: Int64(capacity * headDim), slot_stride: Int64(slotStride))
            model.slopes.withUnsafeBufferPointer { slopes in
                desc.slopes = slopes.baseAddress
                bk_attention(pool, &desc, qkv.pointer, Int64(3 * h), Int64(m), rowPositions, rowSlots,
                             attention.pointer, Int64(h), attentionScratch.pointer)
            }
            linearInputObserver?(.attentionOutput, l, attention.pointer, h, m, h)
            linear(block.attnOutput, attention.pointer, ld: h, rows: m, into: x.pointer, ldy: h,
                   flags: Int32(BK_EPILOGUE_ACCUMULATE))
            // MLP: LN → dense_h_to_4h → GELU → dense_4h_to_h (+ residual)
            layerNorm(block.ffnNorm, x.pointer, normed.pointer, rows: m)
            linearInputObserver?(.ffnUp, l, normed.pointer, h, m, h)
            linear(block.up, normed.pointer, ld: h, rows: m, into: ffnBuffer.pointer, ldy: ffn,
                   flags: Int32(BK_EPILOGUE_GELU))
            linearInputObserver?(.ffnDown, l, ffnBuffer.pointer, ffn, m, ffn)
            linear(block.down, ffnBuffer.pointer, ld: ffn, rows: m, into: x.pointer, ldy: h,
                   flags: Int32(BK_EPILOGUE_ACCUMULATE))
        }
        guard !logitRows.isEmpty else { return }
        // ln_f → tied output head, only for the rows whose logits are wanted
        let first = logitRows.lowerBound, n = logitRows.count
        layerNorm(model.outputNorm, x.pointer + first * h, normed.pointer, rows: n)
        withUnsafePointer(to: model.output.raw) { w in
            bk_linear(pool, w, nil, normed.pointer, Int64(h), Int64(n), logits.pointer + logitsOffset * vocab,
                      Int64(vocab), 0, linearScratch.pointer)
        }
    }

    private func layerNorm(_ norm: Norm, _ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                           rows: Int) {
        bk_layernorm_rows(pool.pool, src, Int64(hidden), norm.weight, norm.bias, model.hyperParameters.layerNormEpsilon,
                          Int64(hidden), Int64(rows), dst, Int64(hidden))
    }

    private func linear(_ layer: Linear, _ src: UnsafeMutablePointer<Float>, ld: Int, rows: Int,
                        into dst: UnsafeMutablePointer<Float>, ldy: Int, flags: Int32) {
        // With LoRA the GELU waits until every pair's product is added (llama.cpp: build_lora_mm, then the activation).
        let gelu = Int32(BK_EPILOGUE_GELU)
        let deferGELU = !layer.lora.isEmpty && flags & gelu != 0
        withUnsafePointer(to: layer.weight.raw) { w in
            bk_linear(pool.pool, w, layer.bias, src, Int64(ld), Int64(rows), dst, Int64(ldy),
                      deferGELU ? flags & ~gelu : flags, linearScratch.pointer)
        }
        for pair in layer.lora {
            let r = Int64(pair.rank)
            withUnsafePointer(to: pair.a) { a in
                bk_linear(pool.pool, a, nil, src, Int64(ld), Int64(rows), loraBuffer.pointer, r, 0,
                          linearScratch.pointer)
            }
            withUnsafePointer(to: pair.b) { b in
                bk_linear(pool.pool, b, nil, loraBuffer.pointer, r, Int64(rows), dst, Int64(ldy),
                          Int32(BK_EPILOGUE_ACCUMULATE), linearScratch.pointer)
            }
        }
        if deferGELU {
            let width = Int64(layer.weight.raw.rows)
            for i in 0..<rows { bk_gelu(dst + i * ldy, dst + i * ldy, width) }
        }
    }

    /// K and V of each row into its slot's cache at its position, head by head.
    private func storeKeysAndValues(layer: Int, rows m: Int) {
        let h = hidden
        for i in 0..<m {
            let row = qkv.pointer + i * 3 * h
            let base = Int(rowSlots[i]) * slotStride + layer * layerStride + Int(rowPositions[i]) * headDim
            for head in 0..<headCount {
                let dst = base + head * capacity * headDim
                (kCache.pointer + dst).update(from: row + h + head * headDim, count: headDim)
                (vCache.pointer + dst).update(from: row + 2 * h + head * headDim, count: headDim)
            }
        }
    }
}
