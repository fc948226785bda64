import BloomCore
import CKernels
import TestSupport
import XCTest

/// bk_quant.h: block layouts, and every dispatching (AVX2) quantizer and dequantizer against its scalar *_ref twin.
final class QuantKernelTests: XCTestCase {
    typealias Quantize = (UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int) -> Void
    typealias Dequantize = (UnsafeRawPointer?, UnsafeMutablePointer<Float>?, Int) -> Void

    static var kernels: [(type: GGMLType, fast: Quantize, ref: Quantize, fastBack: Dequantize, refBack: Dequantize)] { [
        (.Q8_0, bk_quantize_row_q8_0, bk_quantize_row_q8_0_ref, bk_dequantize_row_q8_0, bk_dequantize_row_q8_0_ref),
        (.Q4_0, bk_quantize_row_q4_0, bk_quantize_row_q4_0_ref, bk_dequantize_row_q4_0, bk_dequantize_row_q4_0_ref),
        (.Q4_1, bk_quantize_row_q4_1, bk_quantize_row_q4_1_ref, bk_dequantize_row_q4_1, bk_dequantize_row_q4_1_ref),
    ] }

    override func setUp() {
        if bk_simd_level() < Int32(BK_SIMD_AVX2) { print("note: no AVX2/FMA/F16C here, the dispatching kernels are the *_ref loops") }
    }

    func testBlockLayoutsMatchGGML() {
        XCTAssertEqual(MemoryLayout<block_q8_0>.size, GGMLType.Q8_0.blockLayout.bytes)
        XCTAssertEqual(MemoryLayout<block_q4_0>.size, GGMLType.Q4_0.blockLayout.bytes)
        XCTAssertEqual(MemoryLayout<block_q4_1>.size, GGMLType.Q4_1.blockLayout.bytes)
        XCTAssertEqual(Int(BK_QK), GGMLType.Q8_0.blockLayout.elements)
        XCTAssertEqual(MemoryLayout<block_q4_1>.offset(of: \block_q4_1.qs), 4)
    }

    /// Quantizes `x` with both twins and compares the bytes, naming the first block that differs.
    private func assertTwinsAgree(_ x: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        precondition(x.count % 32 == 0)
        for k in Self.kernels {
            let size = x.count / 32 * k.type.blockLayout.bytes
            var fast = [UInt8](repeating: 0x55, count: size), ref = [UInt8](repeating: 0xAA, count: size)
            fast.withUnsafeMutableBytes { k.fast(x, $0.baseAddress, x.count) }
            ref.withUnsafeMutableBytes { k.ref(x, $0.baseAddress, x.count) }
            if let i = fast.indices.first(where: { fast[$0] != ref[$0] }) {
                let block = i / k.type.blockLayout.bytes
                XCTFail("\(k.type.name) \(what): block \(block) differs, input \(Array(x[block * 32..<block * 32 + 32]))",
                        file: file, line: line)
            }
        }
    }

    func testSIMDEqualsReferenceOnRandomRows() {
        var rng = SplitMix64(seed: 1)
        for scale: Float in [1, 0.02, 37, 1e-20, 1e20, 1e-38] {
            assertTwinsAgree(rng.gaussians(32 * 512, scale: scale), "gaussian × \(scale)")
        }
        // Blocks of wildly different scales side by side, and every bit pattern (NaN payloads, ±Inf, subnormals).
        assertTwinsAgree((0..<32 * 512).map { i in rng.gaussian() * Float(sign: .plus, exponent: (i / 32) % 250 - 125, significand: 1) },
                         "mixed scales")
        assertTwinsAgree(rng.anyFloats(32 * 4096), "random bit patterns")
        // Small integers and halves: products land exactly on rounding ties.
        assertTwinsAgree((0..<32 * 512).map { _ in Float(Int.random(in: -32...32, using: &rng)) / 2 }, "halves")
        assertTwinsAgree((0..<32 * 512).map { _ in Float(Int.random(in: -127...127, using: &rng)) }, "q8 integers")
    }

    func testSIMDEqualsReferenceOnEdgeRows() {
        let tiny = Float.leastNonzeroMagnitude, big = Float.greatestFiniteMagnitude
        var rows: [(String, [Float])] = [
            ("zeros", [Float](repeating: 0, count: 32)),
            ("negative zeros", [Float](repeating: -0.0, count: 32)),
            ("-0 first", [-0.0] + [Float](repeating: 0, count: 31)),
            ("-0 last", [Float](repeating: 0, count: 31) + [-0.0]),
            ("zeros and positives", [0.5, 0, -0.0] + [Float](repeating: 1, count: 29)),
            ("-0 and positives", [0.5, -0.0, 0] + [Float](repeating: 1, count: 29)),
            ("zeros and negatives", [-0.5, -0.0, 0] + [Float](repeating: -1, count: 29)),
            ("ties of magnitude", (0..<32).map { $0 % 2 == 0 ? 3 : -3 }),
            ("ties of magnitude, negative first", (0..<32).map { $0 % 2 == 0 ? -3 : 3 }),
            ("one huge value", (0..<32).map { $0 == 9 ? 3e38 : Float($0) * 1e-3 }),
            ("f32 extremes", (0..<32).map { $0 % 2 == 0 ? big : -big }),
            ("deep subnormals", (0..<32).map { Float($0 % 5) * tiny }),
            ("subnormals with a normal", (0..<32).map { $0 == 31 ? 1e-30 : Float($0) * 71 * .leastNonzeroMagnitude }),
            ("constant", [Float](repeating: 0.3, count: 32)),
            ("all +inf", [Float](repeating: .infinity, count: 32)),
            ("all -inf", [Float](repeating: -.infinity, count: 32)),
            ("±inf", (0..<32).map { $0 < 16 ? .infinity : -.infinity }),
            ("one inf", (0..<32).map { $0 == 4 ? .infinity : Float($0) }),
            ("all NaN", [Float](repeating: .nan, count: 32)),
            ("NaN first", [.nan] + (1..<32).map { Float($0) }),
            ("NaN last", (0..<31).map { Float($0) } + [.nan]),
            ("negative NaN with payload", (0..<32).map { $0 == 7 ? Float(bitPattern: 0xFFC0_1234) : Float($0) }),
            ("NaN and inf", (0..<32).map { $0 == 3 ? .infinity : $0 == 5 ? .nan : 1 }),
        ]
        // Q4_0's ±8 boundary and Q4_1's half steps, exactly representable.
        rows.append(("q4_0 boundary", (0..<32).map { [Float(-8), -0.5, 0.5, 7.5, 8, -7.5, 3.49, -3.51][$0 % 8] }))
        rows.append(("q4_1 half steps", (0..<32).map { Float($0 % 16) + ($0 >= 16 ? 0.5 : 0) }))
        for (what, x) in rows { assertTwinsAgree(x, what) }
        assertTwinsAgree(rows.flatMap(\.1), "all edge rows in one row")
    }

    func testDequantizeSIMDEqualsReferenceOnAnyBytes() {
        var rng = SplitMix64(seed: 2)
        for k in Self.kernels {
            // Random blocks: every scale pattern, NaN/Inf/subnormal scales included.
            let blocks = 4096, n = blocks * 32
            let bytes = (0..<blocks * k.type.blockLayout.bytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var fast = [Float](repeating: 0, count: n), ref = [Float](repeating: 1, count: n)
            bytes.withUnsafeBytes { k.fastBack($0.baseAddress, &fast, n) }
            bytes.withUnsafeBytes { k.refBack($0.baseAddress, &ref, n) }
            let bad = (0..<n).first { !sameFloat(fast[$0], ref[$0]) }
            XCTAssertNil(bad, "\(k.type.name) value \(bad ?? 0): \(bad.map { fast[$0] } ?? 0) vs \(bad.map { ref[$0] } ?? 0)")
        }
    }

    /// Documented behaviour for non-finite input (gguf-py's, checked against it when this was written): blocks are
    /// independent; a NaN makes its block's scale NaN and every quant 0; Inf*0 products become quant 0.
    func testNonFiniteValuesStayInTheirBlock() {
        var rng = SplitMix64(seed: 3)
        let clean = rng.gaussians(96, scale: 1)
        for poison: Float in [.nan, .infinity, -.infinity] {
            var x = clean
            x[40] = poison  // block 1
            for k in Self.kernels {
                let bb = k.type.blockLayout.bytes
                var a = [UInt8](repeating: 0, count: 3 * bb), b = a
                a.withUnsafeMutableBytes { k.fast(clean, $0.baseAddress, 96) }
                b.withUnsafeMutableBytes { k.fast(x, $0.baseAddress, 96) }
                XCTAssertEqual(Array(a[0..<bb]), Array(b[0..<bb]), "\(k.type.name) \(poison): block 0")
                XCTAssertEqual(Array(a[2 * bb..<3 * bb]), Array(b[2 * bb..<3 * bb]), "\(k.type.name) \(poison): block 2")
                let d = Precision.f16ToFloat(UInt16(b[bb]) | UInt16(b[bb + 1]) << 8)
                let quants = b[bb + (k.type == .Q4_1 ? 4 : 2)..<2 * bb]
                if poison.isNaN {
                    XCTAssertTrue(d.isNaN, "\(k.type.name): scale of a block with a NaN")
                    XCTAssertTrue(quants.allSatisfy { $0 == 0 }, "\(k.type.name): quants of a block with a NaN")
                } else {
                    XCTAssertTrue(d.isInfinite || d.isNaN, "\(k.type.name) \(poison): scale \(d)")
                }
            }
        }
    }

    /// The FMA decision (bk_quant.h): Q4_0's x*id + 8.5 and Q4_1's (x-min)*id + 0.5 are a product and a sum each
    /// rounded to f32, as gguf-py 0.19 computes them, not one fused multiply-add. Random data almost never tells the
    /// two apart (a product must fall in a window of 2^-26 next to a quant boundary), so this searches, over many
    /// scales, for inputs where they give different quants and checks both twins on them.
    func testProductAndSumAreRoundedSeparately() {
        for type in [GGMLType.Q4_0, .Q4_1] {
            let c: Float = type == .Q4_0 ? 8.5 : 0.5
            var hits = 0
            for i in 0..<400 {
                let scale = (1 + Float(i) * 0.0371) * (i % 2 == 0 ? 1 : 1e-3)
                // Elements 0 and 1 fix the scale: Q4_0's max -8·scale (d = scale); Q4_1's min -scale, max 14·scale.
                var block = [Float](repeating: 0, count: 32)
                block[0] = type == .Q4_0 ? -8 * scale : -scale
                block[1] = type == .Q4_0 ? 0 : 14 * scale
                let min = block.min()!
                let d = type == .Q4_0 ? block[0] / -8 : (block.max()! - min) / 15
                let id = 1 / d
                func product(_ x: Float) -> Float { type == .Q4_0 ? x : x - min }
                func fused(_ x: Float) -> Int { Swift.min(15, Int(c.addingProduct(product(x), id))) }
                func separate(_ x: Float) -> Int { Swift.min(15, Int(product(x) * id + c)) }
                // A few values either side of each quant boundary k.
                var next = 2
                for k in 1...15 {
                    var x = (Float(k) - c) * d + (type == .Q4_0 ? 0 : min)
                    for _ in 0..<8 { x = x.nextDown }
                    for _ in 0..<16 where next < 32 {
                        if fused(x) != separate(x) && abs(x) < abs(block[0]) && x > min {
                            block[next] = x
                            next += 1
                        }
                        x = x.nextUp
                    }
                }
                guard next > 2 else { continue }
                hits += next - 2
                let qsOffset = type == .Q4_0 ? 2 : 4
                for (name, quantize) in [("ref", type == .Q4_0 ? bk_quantize_row_q4_0_ref : bk_quantize_row_q4_1_ref),
                                         ("dispatch", type == .Q4_0 ? bk_quantize_row_q4_0 : bk_quantize_row_q4_1)] {
                    var out = [UInt8](repeating: 0, count: type.blockLayout.bytes)
                    out.withUnsafeMutableBytes { quantize(block, $0.baseAddress, 32) }
                    for j in 2..<next {
                        let byte = out[qsOffset + j % 16]
                        let q = Int(j < 16 ? byte & 0xF : byte >> 4)
                        XCTAssertEqual(q, separate(block[j]), "\(type.name) \(name) x=\(block[j]) scale \(scale)")
                    }
                }
            }
            XCTAssertGreaterThan(hits, 10, "\(type.name): the search found too few inputs where FMA changes the quant")
            print("\(type.name): \(hits) inputs where a fused multiply-add would change the quant")
        }
    }

    func testErrorAccumulatorSIMDAgreesWithReference() {
        var rng = SplitMix64(seed: 4)
        let n = 10_007  // not a multiple of 8: the tail goes through the scalar loop
        var x = rng.gaussians(n, scale: 3), y = x.map { $0 + Float.random(in: -0.01...0.01, using: &rng) }
        x[17] = .nan; y[99] = .infinity; x[5000] = -.infinity
        var fast = bk_quant_error(), ref = bk_quant_error()
        bk_quant_error_accumulate(x, y, n, &fast)
        bk_quant_error_accumulate_ref(x, y, n, &ref)
        XCTAssertEqual(fast.count, ref.count)
        XCTAssertEqual(fast.nonfinite, 3)
        XCTAssertEqual(fast.nonfinite, ref.nonfinite)
        XCTAssertEqual(fast.max_abs, ref.max_abs)
        XCTAssertEqual(fast.sum_sq_err, ref.sum_sq_err, accuracy: ref.sum_sq_err * 1e-12)
        XCTAssertEqual(fast.sum_sq_ref, ref.sum_sq_ref, accuracy: ref.sum_sq_ref * 1e-12)
    }
}
