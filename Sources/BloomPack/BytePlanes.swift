import CKernels

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
        case .fields(let t):
            return (BKZFieldLayout.of(type: t)?.fields ?? []).flatMap { $0.half ? [n, n] : [n * $0.length] }
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
        case .f16, .bf16:
            // Byte-wise (little-endian element bytes lo, hi) so the loop vectorizes.
            let n = src.count / 2
            let i8 = s.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n {
                let lo = i8[2 &* i], hi = i8[2 &* i &+ 1]
                o[i] = hi &<< 1 | lo &>> 7                  // bits 14…7: exponent (and f16's top 3 mantissa bits)
                o[n &+ i] = hi & 0x80 | lo & 0x7F           // sign + bits 6…0
            }
        case .f32:
            let n = src.count / 4
            let i8 = s.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n {
                let b1 = i8[4 &* i &+ 1], b2 = i8[4 &* i &+ 2], b3 = i8[4 &* i &+ 3]
                o[i] = b3 &<< 1 | b2 &>> 7                  // exponent
                o[n &+ i] = b3 & 0x80 | b2 & 0x7F           // sign + mantissa 22…16
                o[2 &* n &+ i] = b1
                o[3 &* n &+ i] = i8[4 &* i]
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
        case .fields(let t):
            moveFields(t, blocks: UnsafeMutableRawPointer(mutating: s), planes: d, count: src.count, toPlanes: true)
        }
    }

    /// Copies every field of `count` bytes of K-quant blocks between the blocks and their planes (either way).
    private static func moveFields(_ type: Int, blocks: UnsafeMutableRawPointer, planes: UnsafeMutableRawPointer,
                                   count: Int, toPlanes: Bool) {
        guard let layout = BKZFieldLayout.of(type: type) else { return }
        let b = layout.blockBytes, n = count / b
        let blockBytes = blocks.assumingMemoryBound(to: UInt8.self)
        let planeBytes = planes.assumingMemoryBound(to: UInt8.self)
        var plane = 0
        for f in layout.fields {
            if f.half {
                let lo = planeBytes + plane, hi = planeBytes + plane + n
                for i in 0..<n {
                    let at = blockBytes + (i &* b &+ f.offset)
                    if toPlanes { lo[i] = at[0]; hi[i] = at[1] } else { at[0] = lo[i]; at[1] = hi[i] }
                }
                plane += 2 * n
            } else {
                for i in 0..<n {
                    let block = blocks + (i &* b &+ f.offset), field = planes + (plane &+ i &* f.length)
                    if toPlanes { field.copyMemory(from: block, byteCount: f.length) }
                    else { block.copyMemory(from: field, byteCount: f.length) }
                }
                plane += n * f.length
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
            bk_join_planes2(p, p + n, d.assumingMemoryBound(to: UInt8.self), n)  // AVX2, or its scalar twin
        case .f32:
            let n = src.count / 4
            bk_join_planes4(p, p + n, p + 2 * n, p + 3 * n, d.assumingMemoryBound(to: UInt8.self), n)
        case .blocks(let b, let h):
            let n = src.count / b
            let rest = b - 2 * h
            let o8 = d.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n {
                let block = o8 + i * b
                for f in 0..<(2 * h) { block[f] = p[f * n + i] }
                (d + i * b + 2 * h).copyMemory(from: s + 2 * h * n + i * rest, byteCount: rest)
            }
        case .fields(let t):
            moveFields(t, blocks: d, planes: UnsafeMutableRawPointer(mutating: s), count: src.count, toPlanes: false)
        }
    }
}
