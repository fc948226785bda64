import BloomArch
import BloomCore
import BloomGGUF
import BloomTokenizer

/// llama-imatrix's collection (`IMatrixCollector::collect_imatrix` and `compute_imatrix` in tools/imatrix): the text
/// is tokenized once (no BOS) and cut into ⌊tokens / n_ctx⌋ chunks of n_ctx tokens, each run from an empty cache;
/// for every block matrix product (attn_qkv, attn_output, ffn_up, ffn_down; not the output head, which
/// llama-imatrix skips by default and which BLOOM ties to token_embd) each input row adds x_j² to column j's f32 sum,
/// row after row in token order, and its count grows by one per row.
///
/// llama-imatrix runs n_batch (2048) tokens per pass — n_batch / n_ctx chunks side by side, or n_ctx in pieces of
/// n_batch — and ignores a product of fewer than 16 rows; the same passes are skipped here, so the sums and counts
/// are its own up to the forward pass's rounding.
public enum ImatrixCollector {
    /// llama-imatrix's default n_batch.
    public static let defaultBatch = 2048

    /// - Parameters:
    ///   - chunks: at most this many chunks (`--chunks`); nil: all.
    ///   - dataset: the text file's name, recorded in `imatrix.datasets`.
    ///   - onChunk: after each chunk, its index and the chunk count.
    /// - Throws: `.invalidRequest` for a bad context or a text shorter than two chunks, `.invalidModel` when an
    ///   activation is not finite (as llama-imatrix stops).
    public static func collect(model: BloomModel, tokens: [TokenID], context n: Int, chunks: Int? = nil,
                               batch: Int = defaultBatch, pool: ThreadPool, dataset: String,
                               onChunk: (Int, Int) -> Void = { _, _ in }) throws -> ImportanceMatrix {
        guard n >= 1, batch >= 1, tokens.count >= 2 * n else {
            throw BloomError(.invalidRequest, "an importance matrix with context \(n) needs at least \(2 * n) tokens; "
                             + "the text has \(tokens.count)")
        }
        let chunkCount = min(chunks ?? Int.max, tokens.count / n)
        let hp = model.hyperParameters
        let kinds: [BloomTensorKind] = [.attentionQKV, .attentionOutput, .ffnUp, .ffnDown]
        let widths = [hp.embeddingLength, hp.embeddingLength, hp.embeddingLength, hp.feedForwardLength]
        let sums = kinds.indices.map { k in
            (0..<hp.blockCount).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: widths[k]) }
        }
        defer { for row in sums { for b in row { b.deallocate() } } }
        for row in sums { for b in row { b.initialize(repeating: 0) } }
        var counts = [Int](repeating: 0, count: kinds.count)  // the same for every layer
        var nonFinite: String?
        var passRows: Int?  // rows of llama-imatrix's pass when it holds whole chunks; else each piece's own

        let ctx = try InferenceContext(model: model, pool: pool, capacity: n, batchCapacity: min(n, batch))
        ctx.linearInputObserver = { kind, layer, x, stride, rows, columns in
            guard (passRows ?? rows) >= 16, let k = kinds.firstIndex(of: kind) else { return }
            let acc = sums[k][layer].baseAddress!
            for r in 0..<rows {
                let row = x + r * stride
                for j in 0..<columns { acc[j] += row[j] * row[j] }
            }
            if layer == 0 { counts[k] += rows }
            if nonFinite == nil, !(0..<columns).allSatisfy({ acc[$0].isFinite }) {
                nonFinite = kind.ggufName(layer: layer)
            }
        }
        // Chunks side by side in one llama pass when n_ctx ≤ n_batch; otherwise pieces of n_batch (batchCapacity).
        let side = max(1, batch / n)
        for c in 0..<chunkCount {
            passRows = n <= batch ? min(side, chunkCount - (c / side) * side) * n : nil
            ctx.reset(slot: 0)
            try ctx.evaluate(Array(tokens[(c * n)..<((c + 1) * n)]))
            if let name = nonFinite {
                throw BloomError(.invalidModel, "non-finite activations at the input of '\(name)' (chunk \(c + 1))",
                                 path: model.path)
            }
            onChunk(c, chunkCount)
        }
        var entries: [String: ImportanceMatrix.Entry] = [:]
        for (k, kind) in kinds.enumerated() where counts[k] > 0 {
            for layer in 0..<hp.blockCount {
                entries[kind.ggufName(layer: layer)] = .init(sums: Array(sums[k][layer]), count: counts[k])
            }
        }
        return ImportanceMatrix(entries: entries, datasets: [dataset], chunkCount: chunkCount, chunkSize: n)
    }
}
