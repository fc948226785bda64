import CKernels
import Foundation
import TestSupport
import XCTest

/// bk_matmul.h: every SIMD kernel against its scalar *_ref twin (bit for bit, on random inputs), the twins against
/// f64 math, and the threaded driver (bk_pool) against the single-threaded twin for several thread counts.
final class MatmulKernelTests: XCTestCase {
    /// Every instruction-set level this CPU has (bk_set_simd_limit caps the kernels to one).
    static var levels: [Int32] { [Int32(BK_SIMD_AVX2), Int32(BK_SIMD_AVX512_VNNI)].filter { $0 <= bk_simd_level() } }

    override func tearDown() {
        bk_set_simd_limit(Int32(BK_SIMD_AVX512_VNNI))
        super.tearDown()
    }

    static let types: [(Int32, String)] = [
        (Int32(BK_TYPE_F32), "f32"), (Int32(BK_TYPE_F16), "f16"), (Int32(BK_TYPE_BF16), "bf16"),
        (Int32(BK_TYPE_Q8_0), "q8_0"), (Int32(BK_TYPE_Q4_0), "q4_0"), (Int32(BK_TYPE_Q4_1), "q4_1"),
        (Int32(BK_TYPE_Q5_0), "q5_0"), (Int32(BK_TYPE_Q5_1), "q5_1"), (Int32(BK_TYPE_Q2_K), "q2_K"),
        (Int32(BK_TYPE_Q3_K), "q3_K"), (Int32(BK_TYPE_Q4_K), "q4_K"), (Int32(BK_TYPE_Q5_K), "q5_K"),
        (Int32(BK_TYPE_Q6_K), "q6_K"),
    ]

    /// The 8-bit row dots (block weights, 1–4 activation rows): equal to their twin, and a row and column's result
    /// does not depend on how many run together.
    func testDotRowsEqualTheirTwins() {
        var rng = SplitMix64(seed: 1)
        bk_set_simd_limit(Int32(BK_SIMD_AVX2))
        for (type, name) in Self.types where !isFloat(type) {
            let sizes = bk_block_elements(type) == 256 ? [256, 768, 2048] : [32, 96, 352, 1024, 2048]
            for k in sizes {
                let rows = 13  // one activation row takes weight rows 8 at a time: a group of 8 and 5 more
                let w = encode(rng.uniforms(rows * k, scale: 1), type: type, rows: rows, rng: &rng)
                let rowBytes = bk_row_bytes(type, Int64(k)), xBytes = bk_activation_row_bytes(type, Int64(k))
                let x = activations(rng.uniforms(4 * k, scale: 3), type: type, rows: 4, k: k)
                for nc in 1...4 {
                    var simd = [Float](repeating: 0, count: 4 * rows), ref = simd
                    w.withUnsafeBytes { wp in
                        bk_dot_rows(type, Int64(k), wp.baseAddress, rowBytes, Int64(rows), x, xBytes, Int32(nc),
                                    &simd, Int64(rows))
                        bk_dot_rows_ref(type, Int64(k), wp.baseAddress, rowBytes, Int64(rows), x, xBytes, Int32(nc),
                                        &ref, Int64(rows))
                    }
                    XCTAssertEqual(simd.map(\.bitPattern), ref.map(\.bitPattern), "\(name) k \(k) nc \(nc)")
                    var single: Float = 0
                    w.withUnsafeBytes { wp in
                        x.withUnsafeBytes { xp in
                            bk_dot_rows(type, Int64(k), wp.baseAddress! + (rows - 1) * rowBytes, rowBytes, 1,
                                        xp.baseAddress! + (nc - 1) * xBytes, xBytes, 1, &single, 1)
                        }
                    }
                    XCTAssertEqual(single.bitPattern, simd[(nc - 1) * rows + rows - 1].bitPattern,
                                   "\(name) k \(k) row and column alone")
                }
            }
        }
    }

    /// The K-quant panels (BK_GEMM_MIN_ROWS or more activation rows) give the row dots' twin's results bit for bit,
    /// on every level and with partial panels (rows not a multiple of 8 or 32); the twin is checked against f64 in
    /// testLinearEqualsItsTwinOnEveryPathAndThreadCount.
    func testKQuantPanelsEqualTheRowDotTwin() {
        var rng = SplitMix64(seed: 4)
        for level in Self.levels + [0] {
            bk_set_simd_limit(level)
            for (type, name) in Self.types where bk_block_elements(type) == 256 {
                for (k, rows) in [(256, 45), (768, 8), (1024, 70)] {
                    let m = Int(BK_GEMM_MIN_ROWS) + 3
                    let w = encode(rng.uniforms(rows * k, scale: 1), type: type, rows: rows, rng: &rng)
                    let x = rng.uniforms(m * k, scale: 3)
                    let xq = activations(x, type: type, rows: m, k: k)
                    let rowBytes = bk_row_bytes(type, Int64(k)), xBytes = bk_activation_row_bytes(type, Int64(k))
                    var dots = [Float](repeating: 0, count: m * rows), y = dots
                    w.withUnsafeBytes { wp in
                        for c in 0..<m {
                            xq.withUnsafeBytes { xp in
                                bk_dot_rows_ref(type, Int64(k), wp.baseAddress, rowBytes, Int64(rows),
                                                xp.baseAddress! + c * xBytes, xBytes, 1, &dots[c * rows], 1)
                            }
                        }
                        var weight = bk_weight(data: wp.baseAddress, type: type, rows: Int64(rows), cols: Int64(k))
                        let scratch = AlignedBuffer(byteCount: bk_linear_scratch_bytes(1, Int64(m), Int64(k)))
                        bk_linear(nil, &weight, nil, x, Int64(k), Int64(m), &y, Int64(rows), 0, scratch.pointer)
                    }
                    XCTAssertEqual(y.map(\.bitPattern), dots.map(\.bitPattern), "\(name) k \(k) level \(level)")
                }
            }
        }
    }

    /// Float weights with many activation rows go through 4 × 3 tiles in panels of 48 weight rows: the same results as
    /// the twin with a tail of k not a multiple of 8, activation rows not a multiple of 4 (the last ones in the small
    /// tiles), weight rows not a multiple of 3 or of the panel, split over two threads.
    func testTallFloatTilesEqualTheTwin() throws {
        var rng = SplitMix64(seed: 5)
        let pool = try Pool(threads: 2)
        for (type, name) in Self.types where isFloat(type) {
            let k = 2 * 256 + 109, rows = 101, m = 103
            let w = encode(rng.uniforms(rows * k, scale: 1), type: type, rows: rows, rng: &rng)
            let x = rng.uniforms(m * k, scale: 2), bias = rng.uniforms(rows, scale: 1)
            var ref = [Float](repeating: 0, count: m * rows), y = ref
            w.withUnsafeBytes { wp in
                var weight = bk_weight(data: wp.baseAddress, type: type, rows: Int64(rows), cols: Int64(k))
                bk_linear_ref(&weight, bias, x, Int64(k), Int64(m), &ref, Int64(rows), 0)
                let scratch = AlignedBuffer(byteCount: bk_linear_scratch_bytes(2, Int64(m), Int64(k)))
                bk_linear(pool.pool, &weight, bias, x, Int64(k), Int64(m), &y, Int64(rows), 0, scratch.pointer)
            }
            XCTAssertEqual(y.map(\.bitPattern), ref.map(\.bitPattern), name)
        }
    }

    /// The 8-bit panels at the extremes of every 32-element type: every quant at its largest magnitude (all bits
    /// set: Q4 15, Q5 31; Q8_0 127 and −128) against activations of ±127, where the int16 sums of the AVX2 panel are
    /// closest to overflowing (Q4: 8 groups of pairs ≤ 3810 = 30480); equal to the twin, whose sums are exact.
    func testPanelsAtExtremeQuantsEqualTheTwin() throws {
        let pool = try Pool(threads: 1)
        let k = 96, rows = 40, m = 9
        for (type, name) in Self.types where !isFloat(type) && bk_block_elements(type) == 32 {
            let blockBytes = bk_row_bytes(type, 32), scaleBytes = type == BK_TYPE_Q4_1 || type == BK_TYPE_Q5_1 ? 4 : 2
            var w = [UInt8](repeating: 0xFF, count: rows * bk_row_bytes(type, Int64(k)))
            for b in 0..<(w.count / blockBytes) {
                for i in 0..<scaleBytes { w[b * blockBytes + i] = i % 2 == 0 ? 0x00 : 0x24 }  // d (and m) = 2⁻⁶
                if type == BK_TYPE_Q8_0, b % 2 == 1 {  // odd blocks: every quant −128
                    for i in 2..<blockBytes { w[b * blockBytes + i] = 0x80 }
                }
                if type == BK_TYPE_Q8_0, b % 2 == 0 {  // even blocks: every quant 127
                    for i in 2..<blockBytes { w[b * blockBytes + i] = 0x7F }
                }
            }
            for sign: Float in [1, -1] {
                let x = (0..<(m * k)).map { i in i % 7 == 3 ? -sign : sign }  // ±127 after quantization
                var ref = [Float](repeating: 0, count: m * rows), y = ref
                w.withUnsafeBytes { wp in
                    var weight = bk_weight(data: wp.baseAddress, type: type, rows: Int64(rows), cols: Int64(k))
                    bk_linear_ref(&weight, nil, x, Int64(k), Int64(m), &ref, Int64(rows), 0)
                    for level in Self.levels {
                        bk_set_simd_limit(level)
                        let scratch = AlignedBuffer(byteCount: bk_linear_scratch_bytes(1, Int64(m), Int64(k)))
                        bk_linear(pool.pool, &weight, nil, x, Int64(k), Int64(m), &y, Int64(rows), 0, scratch.pointer)
                        XCTAssertEqual(y.map(\.bitPattern), ref.map(\.bitPattern),
                                       "\(name) sign \(sign) level \(level)")
                    }
                }
                XCTAssertTrue(ref.allSatisfy { $0.isFinite && $0 != 0 }, name)
            }
        }
    }

    /// ggml's activation quantization: qs = RNE(x·127/max|x|), d = max|x|/127 in f16, s = f16(d·Σqs).
    func testActivationBlocksEqualTheirTwinAndRoundTrip() {
        var rng = SplitMix64(seed: 2)
        let k = 1024
        let x = rng.uniforms(k, scale: 5)
        var a = [bk_block_q8x](repeating: bk_block_q8x(), count: k / 32), b = a
        bk_quantize_q8x(x, &a, Int64(k))
        bk_quantize_q8x_ref(x, &b, Int64(k))
        let size = MemoryLayout<bk_block_q8x>.stride
        XCTAssertEqual(Data(bytes: a, count: a.count * size), Data(bytes: b, count: b.count * size))
        for (i, block) in b.enumerated() {
            let qs = withUnsafeBytes(of: block.qs) { Array($0.bindMemory(to: Int8.self)) }
            let amax = x[(i * 32)..<(i * 32 + 32)].map(abs).max()!
            XCTAssertEqual(block.sum, qs.reduce(0) { $0 + Int32($1) })
            XCTAssertEqual(block.d, bk_f16_to_f32_scalar(bk_f32_to_f16_scalar(amax / 127)))
            XCTAssertEqual(block.s, bk_f16_to_f32_scalar(bk_f32_to_f16_scalar(amax / 127 * Float(block.sum))))
            // |q·d − x| ≤ half a step plus 127 steps of the f16 rounding of d (2^-11 relative)
            for j in 0..<32 { XCTAssertEqual(Float(qs[j]) * block.d, x[i * 32 + j], accuracy: amax / 127 * 0.57) }
        }
    }

    /// ggml's quantize_row_q8_K_ref: the SIMD version gives the same bytes; q = RNE(x·(-127/m)) with m the first value
    /// of largest |x|, d = 1/(-127/m), bsums the sums of 16 quants; |q·d − x| within half a step.
    func testQ8KActivationsEqualTheirTwinAndRoundTrip() {
        var rng = SplitMix64(seed: 7)
        let k = 1024
        var x = rng.uniforms(k, scale: 5)
        x[300] = 9  // the first of two equal magnitudes sets the sign
        x[301] = -9
        for j in 512..<768 { x[j] = 0 }  // an all-zero super-block
        var a = [block_q8_K](repeating: block_q8_K(), count: k / 256), b = a
        bk_quantize_q8K(x, &a, Int64(k))
        bk_quantize_q8K_ref(x, &b, Int64(k))
        let size = MemoryLayout<block_q8_K>.stride
        XCTAssertEqual(Data(bytes: a, count: a.count * size), Data(bytes: b, count: b.count * size))
        for (i, block) in b.enumerated() {
            let qs = withUnsafeBytes(of: block.qs) { Array($0.bindMemory(to: Int8.self)) }
            let sums = withUnsafeBytes(of: block.bsums) { Array($0.bindMemory(to: Int16.self)) }
            let v = Array(x[(i * 256)..<(i * 256 + 256)])
            for g in 0..<16 { XCTAssertEqual(Int(sums[g]), qs[(16 * g)..<(16 * g + 16)].reduce(0) { $0 + Int($1) }) }
            let amax = v.map(abs).max()!
            guard amax > 0 else {
                XCTAssertEqual(block.d, 0)
                XCTAssertTrue(qs.allSatisfy { $0 == 0 })
                continue
            }
            let m = v.first { abs($0) == amax }!
            XCTAssertEqual(block.d, 1 / (-127 / m))
            for j in 0..<256 { XCTAssertEqual(Float(qs[j]) * block.d, v[j], accuracy: amax / 127 * 0.5001) }
        }
        XCTAssertEqual(b[1].d, 1 / (-127 / Float(9)), "x[300] = 9 comes before x[301] = -9")
    }

    /// All three paths of bk_linear (float tiles, 8-bit row dots, 8-bit panels), every epilogue, 1–3 threads, every
    /// instruction-set level: equal to the single-threaded twin, and close to f64 math on the exact weights.
    func testLinearEqualsItsTwinOnEveryPathAndThreadCount() throws {
        for level in Self.levels {
            bk_set_simd_limit(level)
            try checkLinear(level: level)
        }
    }

    private func checkLinear(level: Int32) throws {
        var rng = SplitMix64(seed: 3)
        let pools = try (1...3).map { try Pool(threads: $0) }
        // float weights also at k = 107 (3 groups of 32, one of 8, a tail of 3: every part of the m = 1 row order)
        let cases = Self.types.flatMap { t in
            isFloat(t.0) ? [(t.0, t.1, 96), (t.0, t.1, 107)] : [(t.0, t.1, bk_block_elements(t.0) == 256 ? 512 : 96)]
        }
        for (type, name, k) in cases {
            let rows = 37
            let w = encode(rng.uniforms(rows * k, scale: 1), type: type, rows: rows, rng: &rng)
            let bias = rng.uniforms(rows, scale: 1)
            for m in [1, 3, 7, 8, 13] {
                let x = rng.uniforms(m * k, scale: 2)
                for flags in [0, Int32(BK_EPILOGUE_GELU), Int32(BK_EPILOGUE_ACCUMULATE)] {
                    let start = rng.uniforms(m * rows, scale: 1)
                    var ref = start
                    w.withUnsafeBytes { wp in
                        var weight = bk_weight(data: wp.baseAddress, type: type, rows: Int64(rows), cols: Int64(k))
                        bk_linear_ref(&weight, bias, x, Int64(k), Int64(m), &ref, Int64(rows), flags)
                        for pool in pools {
                            var y = start
                            let scratch = AlignedBuffer(
                                byteCount: bk_linear_scratch_bytes(Int32(pool.threadCount), Int64(m), Int64(k)))
                            bk_linear(pool.pool, &weight, bias, x, Int64(k), Int64(m), &y, Int64(rows), flags,
                                      scratch.pointer)
                            XCTAssertEqual(y.map(\.bitPattern), ref.map(\.bitPattern), "\(name) k \(k) m \(m) "
                                           + "flags \(flags) threads \(pool.threadCount) level \(level)")
                        }
                    }
                    guard flags == 0, level == Self.levels.first else { continue }  // every level equals the twin
                    // against f64 on the dequantized weights: float weights to f32 rounding, block weights to the
                    // activation quantization error (≤ 0.57 steps of 1/127 of the block maximum per element: half a
                    // step, and the f16 rounding of Q8_0/Q8_1's d; Q8_K's f32 d: 0.5001)
                    let blockDots = !isFloat(type), group = Int(bk_block_elements(type))
                    let steps = group == 256 ? 0.5001 : 0.57
                    let deq = dequantize(w, type: type, rows: rows, cols: k)
                    let width = max(group, 1)
                    let blockMax = stride(from: 0, to: m * k, by: width).map {
                        Double(x[$0..<($0 + width)].map(abs).max()!)
                    }
                    for i in 0..<m {
                        for r in 0..<rows {
                            var exact = Double(bias[r]), magnitude = abs(Double(bias[r])), quantization = 0.0
                            for j in 0..<k {
                                exact += Double(deq[r * k + j]) * Double(x[i * k + j])
                                magnitude += abs(Double(deq[r * k + j]) * Double(x[i * k + j]))
                                let step = blockMax[(i * k + j) / width] / 127
                                quantization += abs(Double(deq[r * k + j])) * step * steps
                            }
                            let bound = (blockDots ? quantization : 0) + magnitude * 1e-6
                            XCTAssertEqual(Double(ref[i * rows + r]), exact, accuracy: bound, "\(name) m \(m) row \(r)")
                        }
                    }
                }
            }
        }
    }

    func testElementwiseKernelsEqualTheirTwins() {
        var rng = SplitMix64(seed: 4)
        for n in [1, 7, 8, 9, 64, 250, 1000] {
            let x = rng.uniforms(n, scale: 30)
            var a = [Float](repeating: 0, count: n), b = a
            bk_exp(x, &a, Int64(n)); bk_exp_ref(x, &b, Int64(n))
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "exp \(n)")
            bk_gelu(x, &a, Int64(n)); bk_gelu_ref(x, &b, Int64(n))
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "gelu \(n)")
            XCTAssertEqual(bk_max(x, Int64(n)).bitPattern, bk_max_ref(x, Int64(n)).bitPattern)
            XCTAssertEqual(bk_sum_exp(x, Int64(n), 3).bitPattern, bk_sum_exp_ref(x, Int64(n), 3).bitPattern)
            let w = rng.uniforms(n, scale: 1), bias = rng.uniforms(n, scale: 1)
            bk_layernorm(x, w, bias, 1e-5, Int64(n), &a); bk_layernorm_ref(x, w, bias, 1e-5, Int64(n), &b)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "layernorm \(n)")
        }
    }

    /// The twins against f64: exp within 2 ulp, GELU within 1e-6 (relative above 1) of the tanh form, Σ exp within
    /// 1e-6 relative, LayerNorm within 1e-5.
    func testReferenceKernelsAreAccurate() {
        var rng = SplitMix64(seed: 5)
        let n = 4000
        let x = rng.uniforms(n, scale: 80)
        var y = [Float](repeating: 0, count: n)
        bk_exp_ref(x, &y, Int64(n))
        for i in 0..<n where x[i] > -87 && x[i] < 88 {
            let e = Foundation.exp(Double(x[i]))
            XCTAssertEqual(Double(y[i]), e, accuracy: e * 2 * 0x1p-23, "exp(\(x[i]))")
        }
        let g = rng.uniforms(n, scale: 12)
        bk_gelu_ref(g, &y, Int64(n))
        for i in 0..<n {
            let v = Double(g[i])
            let exact = v * 0.5 * (1 + tanh(0.79788456 * v * (1 + 0.044715 * v * v)))
            XCTAssertEqual(Double(y[i]), exact, accuracy: 1e-6 * max(1, abs(exact)), "gelu(\(v))")
        }
        let s = rng.uniforms(300, scale: 10)
        let m = s.max()!, z = s.map { Foundation.exp(Double($0 - m)) }.reduce(0, +)
        XCTAssertEqual(bk_max_ref(s, 300), m)
        XCTAssertEqual(Double(bk_sum_exp_ref(s, 300, m)), z, accuracy: z * 1e-6)
        let v = rng.uniforms(1024, scale: 4), w = rng.uniforms(1024, scale: 1), b = rng.uniforms(1024, scale: 1)
        var out = [Float](repeating: 0, count: 1024)
        bk_layernorm_ref(v, w, b, 1e-5, 1024, &out)
        let mean = v.map(Double.init).reduce(0, +) / 1024
        let variance = v.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / 1024
        for i in 0..<1024 {
            let exact = (Double(v[i]) - mean) / (variance + 1e-5).squareRoot() * Double(w[i]) + Double(b[i])
            XCTAssertEqual(Double(out[i]), exact, accuracy: 1e-5)
        }
    }

    /// Threaded attention over slots and positions equals the row twin; the twin equals f64 softmax attention.
    /// Rows go 3 at a time through the values when they share a slot and head_dim is a multiple of 32: the cases
    /// cover rows of alternating slots (one at a time), blocks of 3 and 2 rows of one slot, and a block of mixed slots.
    func testAttentionEqualsItsTwin() throws {
        try attentionEqualsItsTwin(hd: 24, m: 9) { Int32($0 % 2) }
        try attentionEqualsItsTwin(hd: 32, m: 8) { $0 < 6 ? 0 : 1 }
        try attentionEqualsItsTwin(hd: 64, m: 7) { $0 == 4 ? 1 : 0 }
    }

    private func attentionEqualsItsTwin(hd: Int, m: Int, slotOf: (Int) -> Int32) throws {
        var rng = SplitMix64(seed: 6)
        let heads = 6, capacity = 40, slots = 2
        let k = rng.uniforms(slots * heads * capacity * hd, scale: 1), v = rng.uniforms(k.count, scale: 1)
        var slopes = [Float](repeating: 0, count: heads)
        bk_alibi_slopes(Int32(heads), &slopes)
        let q = rng.uniforms(m * heads * hd, scale: 1)
        let positions: [Int64] = (0..<m).map { Int64(3 * $0 + 5) }
        let rowSlots: [Int32] = (0..<m).map(slotOf)
        let pool = try Pool(threads: 2)
        var out = [Float](repeating: 0, count: m * heads * hd), ref = out
        k.withUnsafeBufferPointer { kp in
            v.withUnsafeBufferPointer { vp in
                slopes.withUnsafeBufferPointer { sp in
                    var d = bk_attention_desc(n_head: Int32(heads), head_dim: Int32(hd),
                                              scale: 1 / Float(hd).squareRoot(),
                                              slopes: sp.baseAddress, k_cache: kp.baseAddress, v_cache: vp.baseAddress,
                                              head_stride: Int64(capacity * hd),
                                              slot_stride: Int64(heads * capacity * hd))
                    let scratch = AlignedBuffer(byteCount: bk_attention_scratch_bytes(2, Int64(capacity), Int32(hd)))
                    bk_attention(pool.pool, &d, q, Int64(heads * hd), Int64(m), positions, rowSlots, &out,
                                 Int64(heads * hd), scratch.pointer)
                    var scores = [Float](repeating: 0, count: capacity)
                    for i in 0..<m {
                        for h in 0..<heads {
                            q.withUnsafeBufferPointer { qp in
                                ref.withUnsafeMutableBufferPointer { rp in
                                    bk_attention_row_ref(&d, rowSlots[i], Int32(h), qp.baseAddress! + i * heads * hd,
                                                         positions[i],
                                                         &scores, rp.baseAddress! + i * heads * hd)
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(out.map(\.bitPattern), ref.map(\.bitPattern), "head_dim \(hd), \(m) rows")
        for i in 0..<m {
            for h in 0..<heads {
                let base = Int(rowSlots[i]) * heads * capacity * hd + h * capacity * hd
                let p = Int(positions[i])
                var s = (0...p).map { t -> Double in
                    var dot = 0.0
                    for d in 0..<hd { dot += Double(q[i * heads * hd + h * hd + d]) * Double(k[base + t * hd + d]) }
                    return dot / Double(hd).squareRoot() + Double(slopes[h]) * Double(t)
                }
                let mx = s.max()!
                s = s.map { Foundation.exp($0 - mx) }
                let z = s.reduce(0, +)
                for d in 0..<hd {
                    let exact = (0...p).map { s[$0] / z * Double(v[base + $0 * hd + d]) }.reduce(0, +)
                    XCTAssertEqual(Double(ref[i * heads * hd + h * hd + d]), exact, accuracy: 1e-5)
                }
            }
        }
    }

    /// transformers' build_alibi_tensor: base = f32(2^(-8/c)) with c = 2^⌊log2 n⌋, slopes base^1…base^c, then
    /// f32(2^(-4/c))^1,3,5… for the remaining heads; torch.pow in f32 (within an ulp of the f64 power of the f32 base).
    func testAlibiSlopesForAnyHeadCount() {
        for n in [1, 4, 6, 12, 16, 32, 112] {
            var slopes = [Float](repeating: 0, count: n)
            bk_alibi_slopes(Int32(n), &slopes)
            let c = 1 << Int(log2(Double(n)))
            let base = Double(Float(pow(2, -8 / Double(c)))), extra = Double(Float(pow(2, -4 / Double(c))))
            for h in 0..<n {
                let exact = h < c ? pow(base, Double(h + 1)) : pow(extra, Double(2 * (h - c) + 1))
                XCTAssertEqual(Double(slopes[h]), exact, accuracy: exact * 0x1p-23, "\(n) heads, head \(h)")
            }
        }
    }

    // MARK: helpers

    /// Byte offsets of the fp16 scales (d, and dmin or m) in a block of the types `encode` builds at random.
    static let halfOffsets: [Int32: [Int]] = [
        Int32(BK_TYPE_Q5_0): [0], Int32(BK_TYPE_Q5_1): [0, 2], Int32(BK_TYPE_Q2_K): [80, 82],
        Int32(BK_TYPE_Q3_K): [108],
        Int32(BK_TYPE_Q4_K): [0, 2], Int32(BK_TYPE_Q5_K): [0, 2], Int32(BK_TYPE_Q6_K): [208],
    ]

    private func isFloat(_ type: Int32) -> Bool { type == BK_TYPE_F32 || type == BK_TYPE_F16 || type == BK_TYPE_BF16 }

    /// `rows` rows of values in `type`: the legacy blocks through the quantization work's quantizers, the others as
    /// random valid blocks (random quants and scale bytes, fp16 super-block scales of either sign below 0.05).
    private func encode(_ x: [Float], type: Int32, rows: Int = 1, rng: inout SplitMix64) -> [UInt8] {
        if let halves = Self.halfOffsets[type] {
            let n = rows * bk_row_bytes(type, Int64(x.count / rows))
            var out = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let blockBytes = bk_row_bytes(type, bk_block_elements(type))
            for b in stride(from: 0, to: n, by: blockBytes) {
                for offset in halves {
                    let h = bk_f32_to_f16_scalar(rng.uniforms(1, scale: 0.05)[0])
                    out[b + offset] = UInt8(h & 0xFF)
                    out[b + offset + 1] = UInt8(h >> 8)
                }
            }
            return out
        }
        let k = x.count / rows
        let rowBytes = bk_row_bytes(type, Int64(k))
        var out = [UInt8](repeating: 0, count: rowBytes * rows)
        out.withUnsafeMutableBytes { o in
            for r in 0..<rows {
                let src = Array(x[(r * k)..<((r + 1) * k)])
                let dst = o.baseAddress! + r * rowBytes
                switch type {
                case Int32(BK_TYPE_F32): dst.copyMemory(from: src, byteCount: k * 4)
                case Int32(BK_TYPE_F16): bk_f32_to_f16(src, dst.assumingMemoryBound(to: UInt16.self), k)
                case Int32(BK_TYPE_BF16): bk_f32_to_bf16(src, dst.assumingMemoryBound(to: UInt16.self), k)
                case Int32(BK_TYPE_Q8_0): bk_quantize_row_q8_0(src, dst, k)
                case Int32(BK_TYPE_Q4_0): bk_quantize_row_q4_0(src, dst, k)
                default: bk_quantize_row_q4_1(src, dst, k)
                }
            }
        }
        return out
    }

    private func dequantize(_ w: [UInt8], type: Int32, rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        w.withUnsafeBytes { wp in
            var weight = bk_weight(data: wp.baseAddress, type: type, rows: Int64(rows), cols: Int64(cols))
            for r in 0..<rows { out.withUnsafeMutableBufferPointer { bk_dequantize_row_ref(&weight, Int64(r),
                $0.baseAddress! + r * cols) } }
        }
        return out
    }

    /// Activation rows quantized for `type` (8-bit blocks of 32 or 256 values), bk_activation_row_bytes apart.
    private func activations(_ x: [Float], type: Int32, rows: Int, k: Int) -> [UInt8] {
        let rowBytes = bk_activation_row_bytes(type, Int64(k))
        var out = [UInt8](repeating: 0, count: rows * rowBytes)
        out.withUnsafeMutableBytes { o in
            for r in 0..<rows {
                bk_quantize_activations(type, Array(x[(r * k)..<((r + 1) * k)]), o.baseAddress! + r * rowBytes,
                                        Int64(k))
            }
        }
        return out
    }
}

/// A `bk_pool` of `threads` threads (the caller included) for one test.
private final class Pool {
    let pool: OpaquePointer
    let threadCount: Int

    init(threads: Int) throws {
        pool = try XCTUnwrap(bk_pool_create(Int32(threads)), "cannot start \(threads) threads")
        threadCount = Int(bk_pool_size(pool))
    }

    deinit { bk_pool_destroy(pool) }
}

/// 64-byte aligned scratch memory for the kernels.
private final class AlignedBuffer {
    let pointer: UnsafeMutableRawPointer

    init(byteCount: Int) { pointer = .allocate(byteCount: max(64, (byteCount + 63) & ~63), alignment: 64) }

    deinit { pointer.deallocate() }
}
