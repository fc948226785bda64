/// The BPE merges as an open-addressing hash table: (left id, right id) -> (rank, merged id).
/// Looked up several times per byte of input, so it avoids `Dictionary`'s seeded hashing.
struct MergeTable: Sendable {
    struct Merge {
        var rank: UInt32
        var id: Int32
    }

    private static let empty = UInt64.max
    private var keys: [UInt64]
    private var values: [UInt64]
    private var shift: UInt64
    private(set) var count = 0

    init(capacity: Int) {
        var bits = 4
        while (1 << bits) < max(capacity, 8) * 2 { bits += 1 }
        keys = [UInt64](repeating: Self.empty, count: 1 << bits)
        values = [UInt64](repeating: 0, count: 1 << bits)
        shift = UInt64(64 - bits)
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Sets the merge of a pair; a later merge of the same pair replaces the earlier one (as tokenizers does).
    /// The table must have been made with room for every insertion.
    mutating func insert(_ left: Int32, _ right: Int32, rank: UInt32, id: Int32) {
        let k = Self.key(left, right)
        let mask = keys.count - 1
        var i = slot(k)
        while keys[i] != Self.empty && keys[i] != k { i = (i + 1) & mask }
        if keys[i] == Self.empty { count += 1 }
        keys[i] = k
        values[i] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: id))
    }

    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> Merge? {
        let k = Self.key(left, right)
        let mask = keys.count - 1
        var i = slot(k)
        return keys.withUnsafeBufferPointer { keys in
            while true {
                let found = keys[i]
                if found == k {
                    let v = values[i]
                    return Merge(rank: UInt32(truncatingIfNeeded: v >> 32),
                                 id: Int32(bitPattern: UInt32(truncatingIfNeeded: v)))
                }
                if found == Self.empty { return nil }
                i = (i + 1) & mask
            }
        }
    }
}
