/// Pieces already encoded during one `encode` call, keyed by their bytes: running text repeats its words, and a hit
/// costs one hash and one comparison instead of a BPE merge loop. Bounded like tokenizers' BPE cache
/// (words under 256 bytes), here to 65,536 words per call.
struct WordCache {
    static let maxWordBytes = 256
    static let maxEntries = 1 << 16

    private struct Entry {
        var hash: UInt64
        var keyStart: Int32
        var keyLength: Int32
        var idStart: Int32
        var idCount: Int32
    }

    private var slots: [Int32] = []
    private var entries: [Entry] = []
    private var keyBytes: [UInt8] = []
    private var storedIDs: [Int32] = []

    /// FNV-1a over the word's bytes.
    @inline(__always)
    static func hash(_ word: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in word { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// Appends the cached ids of `word` to `out` and returns true, or returns false on a miss.
    @inline(__always)
    func appendIDs(of word: UnsafeBufferPointer<UInt8>, hash: UInt64, to out: inout [Int32]) -> Bool {
        guard !slots.isEmpty else { return false }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let e = slots[i]
            if e < 0 { return false }
            let entry = entries[Int(e)]
            if entry.hash == hash && Int(entry.keyLength) == word.count && keyMatches(entry, word) {
                let start = Int(entry.idStart)
                out.append(contentsOf: storedIDs[start..<start + Int(entry.idCount)])
                return true
            }
            i = (i + 1) & mask
        }
    }

    @inline(__always)
    private func keyMatches(_ entry: Entry, _ word: UnsafeBufferPointer<UInt8>) -> Bool {
        keyBytes.withUnsafeBufferPointer { keys in
            let start = Int(entry.keyStart)
            for k in 0..<word.count where keys[start + k] != word[k] { return false }
            return true
        }
    }

    /// Remembers `ids` as the encoding of `word` (until the cache is full).
    mutating func insert(_ word: UnsafeBufferPointer<UInt8>, hash: UInt64, ids: ArraySlice<Int32>) {
        guard entries.count < Self.maxEntries else { return }
        if entries.count * 2 >= slots.count { grow() }
        let entry = Entry(hash: hash, keyStart: Int32(keyBytes.count), keyLength: Int32(word.count),
                          idStart: Int32(storedIDs.count), idCount: Int32(ids.count))
        keyBytes.append(contentsOf: word)
        storedIDs.append(contentsOf: ids)
        place(Int32(entries.count), hash: hash)
        entries.append(entry)
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: max(1024, slots.count * 2))
        for (index, entry) in entries.enumerated() { place(Int32(index), hash: entry.hash) }
    }

    private mutating func place(_ index: Int32, hash: UInt64) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = index
    }
}
