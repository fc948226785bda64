/// A token string compared and hashed by its exact UTF-8 bytes, as tokenizers (Rust strings) compares them.
/// Swift's `String ==` uses canonical equivalence ("é" == "e\u{301}"), which would merge distinct tokens and
/// hashes non-ASCII text through normalization, which is slow for byte-level spellings like "Ġthe".
struct TokenKey: Hashable {
    let string: String

    init(_ string: String) {
        var copy = string
        copy.makeContiguousUTF8()
        self.string = copy
    }

    static func == (a: TokenKey, b: TokenKey) -> Bool {
        let same = a.string.utf8.withContiguousStorageIfAvailable { x in
            b.string.utf8.withContiguousStorageIfAvailable { y in x.elementsEqual(y) }
        }
        return (same ?? nil) ?? a.string.utf8.elementsEqual(b.string.utf8)
    }

    func hash(into hasher: inout Hasher) {
        if let done: Void = string.utf8.withContiguousStorageIfAvailable({
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }) {
            return done
        }
        for b in string.utf8 { hasher.combine(b) }
    }
}
