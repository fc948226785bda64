/// Byte-plane transforms (ZipNN's idea, arXiv:2411.05239): bytes of like meaning go together so zstd's entropy
/// coder sees the skewed exponent distribution apart from the near-uniform mantissa bits. `split` and `join` are
/// exact inverses on any bytes (every bit pattern, NaN and subnormal included).
///
/// Planes are laid out back to back in one buffer of the chunk's length: plane k of a chunk of n units starts at
/// `planeOffsets(…)[k]`.
enum BytePlanes {
    /// Byte length of each plane for `rawLength` bytes (a whole number of units) of `codec`.
    static func planeLengths(_ codec: BKZCodec, rawLength: Int) -> [Int] {
        let n = rawLength / max(codec.unit, 1)
        switch codec {
        case .zstd: return [rawLength]
        case .f16, .bf16: return [n, n]
        case .f32: return [n, n, n, n]
        case .blocks(let b, let h): return Array(repeating: n, count: 2 * h) + [n * (b - 2 * h)]
        case .duplicate: return []
        }
    }

    /// Rearranges `src` (whole units of `codec`) into planes in `dst` (same length).
    static func split(_ codec: BKZCodec, _ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer) {
        guard let s = src.baseAddress, let d = dst.baseAddress else { return }
        let o = d.assumingMemoryBound(to: UInt8.self)
        switch codec {
        case .zstd, .duplicate:
            d.copyMemory(from: s, byteCount: src.count)
        case .f16:
            let n = src.count / 2
            for i in 0..<n {
                let v = UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                o[i] = UInt8(truncatingIfNeeded: v >> 7)                          // exponent 5 bits + mantissa 9…7
                o[n + i] = UInt8(truncatingIfNeeded: (v >> 8) & 0x80 | v & 0x7F)  // sign + mantissa 6…0
            }
        case .bf16:
            let n = src.count / 2
            for i in 0..<n {
                let v = UInt16(littleEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                o[i] = UInt8(truncatingIfNeeded: v >> 7)                          // exponent 8 bits
                o[n + i] = UInt8(truncatingIfNeeded: (v >> 8) & 0x80 | v & 0x7F)  // sign + mantissa 6…0
            }
        case .f32:
            let n = src.count / 4
            for i in 0..<n {
                let v = UInt32(littleEndian: s.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                o[i] = UInt8(truncatingIfNeeded: v >> 23)
                o[n + i] = UInt8(truncatingIfNeeded: (v >> 24) & 0x80 | (v >> 16) & 0x7F)
                o[2 * n + i] = UInt8(truncatingIfNeeded: v >> 8)
                o[3 * n + i] = UInt8(truncatingIfNeeded: v)
            }
        case .blocks(let b, let h):
            let n = src.count / b
            let i8 = s.assumingMemoryBound(to: UInt8.self)
            let rest = b - 2 * h
            for i in 0..<n {
                let block = i8 + i * b
                for f in 0..<(2 * h) { o[f * n + i] = block[f] }
                (d + 2 * h * n + i * rest).copyMemory(from: block + 2 * h, byteCount: rest)
            }
        }
    }

    /// The inverse of `split`: planes in `src` back to the original bytes in `dst`.
    static func join(_ codec: BKZCodec, _ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer) {
        guard let s = src.baseAddress, let d = dst.baseAddress else { return }
        let p = s.assumingMemoryBound(to: UInt8.self)
        switch codec {
        case .zstd, .duplicate:
            d.copyMemory(from: s, byteCount: src.count)
        case .f16, .bf16:
            let n = src.count / 2
            let out = d.assumingMemoryBound(to: UInt16.self)
            for i in 0..<n {
                let a = UInt16(p[i]), m = UInt16(p[n + i])
                out[i] = (m & 0x80 | a >> 1) << 8 | (a & 1) << 7 | m & 0x7F
                out[i] = out[i].littleEndian
            }
        case .f32:
            let n = src.count / 4
            let out = d.assumingMemoryBound(to: UInt32.self)
            for i in 0..<n {
                let e = UInt32(p[i]), m = UInt32(p[n + i])
                let v = (m & 0x80) << 24 | e << 23 | (m & 0x7F) << 16 | UInt32(p[2 * n + i]) << 8 | UInt32(p[3 * n + i])
                out[i] = v.littleEndian
            }
        case .blocks(let b, let h):
            let n = src.count / b
            let rest = b - 2 * h
            let o8 = d.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n {
                let block = o8 + i * b
                for f in 0..<(2 * h) { block[f] = p[f * n + i] }
                (d + i * b + 2 * h).copyMemory(from: s + 2 * h * n + i * rest, byteCount: rest)
            }
        }
    }
}
