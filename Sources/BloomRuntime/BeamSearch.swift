import BloomCore
import BloomTokenizer
import CKernels
import Foundation

/// Beam search exactly as transformers 5.24 runs it (`generation/utils.py` `_beam_search` with num_return_sequences
/// 1, no sampling, the given length penalty and early_stopping false):
/// - each step takes the top 2·beams continuations of all beams by accumulated log-probability (log-softmax in
///   f32, added to the beam's running score); the first step expands beam 0 only (the others start at -1e9);
/// - a continuation that ends in EOS, or reaches the length limit, is finished if it ranks among the first `beams`
///   of the step; its score is the sum of log-probabilities ÷ (generated length, EOS included)^length_penalty, and
///   the best `beams` finished hypotheses are kept;
/// - the best `beams` unfinished continuations run on;
/// - the search stops when all candidates hit the length limit, or when `beams` hypotheses are finished and the
///   best running score ÷ current generated length^length_penalty no longer beats the worst finished score.
/// The answer is the best finished hypothesis.
struct BeamSearch {
    let beams: Int
    let maxNewTokens: Int
    let eos: TokenID?
    var lengthPenalty: Float = 1
    /// Applied to each beam's log-probabilities (transformers runs its logits processors after log-softmax here).
    var repeatPenalty: Float = 1

    struct Result {
        /// Generated ids; ends with the EOS id when the hypothesis finished on it.
        var tokens: [TokenID]
        var stoppedAtEOS: Bool
        /// Forward steps run after the prompt.
        var steps: Int
        /// Prompt processing, and from its start to the first step's choice (the first token of every beam).
        var promptSeconds: Double
        var firstTokenSeconds: Double
    }

    private struct Beam {
        var tokens: [TokenID]
        var score: Float
        var slot: Int
    }

    private struct Candidate {
        var score: Float   // accumulated log-probability
        var beam: Int
        var token: TokenID
        var flat: Int      // beam·vocab + token, the tie-breaker (lower first)
    }

    /// - Parameters:
    ///   - context: needs `beams` slots; its capacity bounds prompt + maxNewTokens.
    ///   - prompt: non-empty.
    func run(context: InferenceContext, prompt: [TokenID]) throws -> Result {
        precondition(context.slotCount >= beams && beams >= 1, "beam search needs one slot per beam")
        let vocab = context.model.hyperParameters.vocabSize
        let keep = 2 * beams  // max(2, 1 + number of EOS ids) · beams
        context.resetAll()
        let promptStart = Date()
        var logits = try context.evaluate(prompt, slot: 0)
        let promptSeconds = Date().timeIntervalSince(promptStart)
        var firstTokenSeconds = 0.0
        var running = (0..<beams).map { Beam(tokens: [], score: $0 == 0 ? 0 : -1e9, slot: 0) }
        var finished: [(score: Float, tokens: [TokenID])] = []
        var logProbs = [Float](repeating: 0, count: beams * vocab)
        var candidates: [Candidate] = []
        candidates.reserveCapacity(keep + 1)
        var generated = 0, steps = 0
        var rowOf: (Int) -> Int = { _ in 0 }  // first step: every beam reads the prompt's logits
        while true {
            // log-softmax of each beam, plus its running score; keep the best `keep` of all beams × vocab
            candidates.removeAll(keepingCapacity: true)
            for (b, beam) in running.enumerated() {
                logProbs.withUnsafeMutableBufferPointer { lp in
                    let row = lp.baseAddress! + b * vocab
                    let src = logits.baseAddress! + rowOf(b) * vocab
                    logSoftmax(src, into: row, count: vocab)
                    if repeatPenalty != 1 { penalize(row, history: prompt + beam.tokens) }
                    for t in 0..<vocab {
                        let s = row[t] + beam.score
                        insert(Candidate(score: s, beam: b, token: TokenID(t), flat: b * vocab + t), into: &candidates,
                               keep: keep)
                    }
                }
            }
            let atLimit = generated + 1 >= maxNewTokens
            let hits = candidates.map { atLimit || $0.token == eos }
            // finished: the top `beams` candidates that hit a stopping criterion
            var merged = finished.enumerated().map {
                (score: $0.element.score, order: $0.offset, tokens: $0.element.tokens)
            }
            let length = Float(pow(Double(generated + 1), Double(lengthPenalty)))
            for r in 0..<min(beams, candidates.count) where hits[r] {
                let c = candidates[r]
                merged.append((c.score / length, finished.count + r, running[c.beam].tokens + [c.token]))
            }
            merged.sort { $0.score > $1.score || ($0.score == $1.score && $0.order < $1.order) }
            finished = merged.prefix(beams).map { ($0.score, $0.tokens) }
            generated += 1
            if generated == 1 { firstTokenSeconds = Date().timeIntervalSince(promptStart) }
            if atLimit { break }
            // the best `beams` unfinished continuations run on
            let next = candidates.indices.filter { !hits[$0] }.prefix(beams).map { candidates[$0] }
            if finished.count == beams, let best = next.first {
                let bestPossible = best.score / Float(pow(Double(generated), Double(lengthPenalty)))
                if !(bestPossible > finished.map(\.score).min()!) { break }
            }
            running = reorder(context: context, running: running, next: next)
            logits = try context.evaluate(step: running.map { $0.tokens.last! }, slots: running.map(\.slot))
            steps += 1
            rowOf = { $0 }
        }
        let best = finished.first?.tokens ?? []
        return Result(tokens: best, stoppedAtEOS: eos != nil && best.last == eos, steps: steps,
                      promptSeconds: promptSeconds, firstTokenSeconds: firstTokenSeconds)
    }

    /// The continuations become the new beams; each takes over its parent's cache slot (the first child in place,
    /// further children in copies to slots of parents that have no child).
    private func reorder(context: InferenceContext, running: [Beam], next: [Candidate]) -> [Beam] {
        var claimed = Set<Int>()
        var slots = [Int](repeating: -1, count: next.count)
        for (i, c) in next.enumerated() where claimed.insert(running[c.beam].slot).inserted {
            slots[i] = running[c.beam].slot
        }
        var free = (0..<context.slotCount).filter { !claimed.contains($0) }.makeIterator()
        for (i, c) in next.enumerated() where slots[i] < 0 {
            let slot = free.next()!  // beams slots, at most beams distinct parents claimed
            context.copySlot(from: running[c.beam].slot, to: slot)
            slots[i] = slot
        }
        return next.enumerated().map { i, c in
            Beam(tokens: running[c.beam].tokens + [c.token], score: c.score, slot: slots[i])
        }
    }

    /// Keeps `list` sorted (score descending, then flat index ascending) and at most `keep` long.
    private func insert(_ c: Candidate, into list: inout [Candidate], keep: Int) {
        if list.count == keep, let last = list.last,
           !(c.score > last.score || (c.score == last.score && c.flat < last.flat)) {
            return
        }
        var i = list.count
        while i > 0 && (c.score > list[i - 1].score || (c.score == list[i - 1].score && c.flat < list[i - 1].flat)) {
            i -= 1
        }
        list.insert(c, at: i)
        if list.count > keep { list.removeLast() }
    }

    /// torch's log_softmax in f32: (x - max) - log Σ e^(x - max).
    private func logSoftmax(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        let m = bk_max(x, Int64(n))
        let logSum = logf(bk_sum_exp(x, Int64(n), m))
        for i in 0..<n { y[i] = (x[i] - m) - logSum }
    }

    private func penalize(_ row: UnsafeMutablePointer<Float>, history: [TokenID]) {
        for id in Set(history) {
            let v = row[Int(id)]
            row[Int(id)] = v < 0 ? v * repeatPenalty : v / repeatPenalty
        }
    }
}
