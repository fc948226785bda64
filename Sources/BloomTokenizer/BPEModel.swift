/// The byte-level BPE model: each byte of a piece starts as the token of its byte-level character, then the
/// adjacent pair with the lowest merge rank is merged (the leftmost on ties) until no pair has a merge — the
/// result tokenizers' `Word::merge_all` gives. Runs in O(n log n) per piece with a linked list of symbols and a
/// binary heap of candidate merges.
struct BPEModel: Sendable {
    /// `idOfByte[b]`: the token of byte `b`'s byte-level character, or -1 if the vocabulary lacks it.
    let idOfByte: [Int32]
    let merges: MergeTable
    /// tokenizer.json `model.unk_token` (BLOOM has none): stands for bytes the vocabulary lacks; without it they are
    /// dropped.
    let unknownID: Int32?
    /// `model.fuse_unk`: a run of unknown bytes gives one unknown token.
    let fuseUnknown: Bool
}

/// Scratch space for encoding one text: symbol lists, the merge heap and the word cache, reused across pieces.
struct BPEWorkspace {
    private var symbols: [Int32] = []
    private var prev: [Int32] = []
    private var next: [Int32] = []
    /// Candidate merges as `rank << 32 | position`: the smallest is the lowest rank, leftmost.
    private var heap: [UInt64] = []
    private var cache = WordCache()

    /// Appends the tokens of one piece (`word`, raw UTF-8 bytes) to `out`.
    mutating func encode(_ word: UnsafeBufferPointer<UInt8>, with model: BPEModel, into out: inout [Int32]) {
        if word.count == 1, model.idOfByte[Int(word[0])] >= 0 {
            out.append(model.idOfByte[Int(word[0])])
            return
        }
        let cacheable = word.count < WordCache.maxWordBytes
        var hash: UInt64 = 0
        if cacheable {
            hash = WordCache.hash(word)
            if cache.appendIDs(of: word, hash: hash, to: &out) { return }
        }
        let before = out.count
        merge(word, with: model, into: &out)
        if cacheable { cache.insert(word, hash: hash, ids: out[before...]) }
    }

    private mutating func merge(_ word: UnsafeBufferPointer<UInt8>, with model: BPEModel, into out: inout [Int32]) {
        symbols.removeAll(keepingCapacity: true)
        var pendingUnknown = false
        for b in word {
            let id = model.idOfByte[Int(b)]
            if id >= 0 {
                if pendingUnknown, let unknown = model.unknownID { symbols.append(unknown) }
                pendingUnknown = false
                symbols.append(id)
            } else if let unknown = model.unknownID {
                if pendingUnknown && !model.fuseUnknown { symbols.append(unknown) }
                pendingUnknown = true
            }
        }
        if pendingUnknown, let unknown = model.unknownID { symbols.append(unknown) }
        let n = symbols.count
        if n < 2 {
            out.append(contentsOf: symbols)
            return
        }
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
        for i in 0..<n {
            prev.append(Int32(i - 1))
            next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        for i in 0..<(n - 1) {
            if let m = model.merges.merge(symbols[i], symbols[i + 1]) { push(m.rank, i) }
        }
        while let top = pop() {
            let rank = UInt32(truncatingIfNeeded: top >> 32)
            let pos = Int(truncatingIfNeeded: top & 0xFFFF_FFFF)
            let right = Int(next[pos])
            // Entries go stale when a neighbour merged first: the pair must still be there with this rank.
            guard symbols[pos] >= 0, right >= 0,
                  let m = model.merges.merge(symbols[pos], symbols[right]), m.rank == rank else { continue }
            symbols[pos] = m.id
            symbols[right] = -1
            let after = next[right]
            next[pos] = after
            if after >= 0 { prev[Int(after)] = Int32(pos) }
            let before = prev[pos]
            if before >= 0, let left = model.merges.merge(symbols[Int(before)], m.id) { push(left.rank, Int(before)) }
            if after >= 0, let follow = model.merges.merge(m.id, symbols[Int(after)]) { push(follow.rank, pos) }
        }
        var i: Int32 = 0
        while i >= 0 {
            out.append(symbols[Int(i)])
            i = next[Int(i)]
        }
    }

    @inline(__always)
    private mutating func push(_ rank: UInt32, _ pos: Int) {
        var child = heap.count
        heap.append(UInt64(rank) << 32 | UInt64(pos))
        heap.withUnsafeMutableBufferPointer { h in
            let value = h[child]
            while child > 0 {
                let parent = (child - 1) >> 1
                if h[parent] <= value { break }
                h[child] = h[parent]
                child = parent
            }
            h[child] = value
        }
    }

    @inline(__always)
    private mutating func pop() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        if heap.isEmpty { return last }
        return heap.withUnsafeMutableBufferPointer { h in
            let top = h[0]
            let count = h.count
            var i = 0
            while true {
                var child = 2 * i + 1
                if child >= count { break }
                if child + 1 < count && h[child + 1] < h[child] { child += 1 }
                if last <= h[child] { break }
                h[i] = h[child]
                i = child
            }
            h[i] = last
            return top
        }
    }
}
