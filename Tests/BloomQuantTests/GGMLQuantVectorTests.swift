import BloomCore
import CKernels
@testable import BloomQuant
import Foundation
import TestSupport
import XCTest

/// Q5_0, Q5_1 and the K-quants against ggml's own bytes and values: Formats/test-vectors/ggml-quants.json, written by
/// ggml-quants.py from llama.cpp's ggml-quants.c compiled as llama-quantize's ggml-base is (no FMA contraction).
final class GGMLQuantVectorTests: XCTestCase {
    typealias Quantize = (UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int) -> Void
    typealias Dequantize = (UnsafeRawPointer?, UnsafeMutablePointer<Float>?, Int) -> Void

    typealias Kernel = (name: String, type: GGMLType, fast: Quantize, ref: Quantize, fastBack: Dequantize,
                        refBack: Dequantize)

    static var kernels: [Kernel] { [
        ("q5_0", .Q5_0, bk_quantize_row_q5_0, bk_quantize_row_q5_0_ref,
         bk_dequantize_row_q5_0, bk_dequantize_row_q5_0_ref),
        ("q5_1", .Q5_1, bk_quantize_row_q5_1, bk_quantize_row_q5_1_ref,
         bk_dequantize_row_q5_1, bk_dequantize_row_q5_1_ref),
        ("q2_K", .Q2_K, bk_quantize_row_q2_K, bk_quantize_row_q2_K_ref,
         bk_dequantize_row_q2_K, bk_dequantize_row_q2_K_ref),
        ("q3_K", .Q3_K, bk_quantize_row_q3_K, bk_quantize_row_q3_K_ref,
         bk_dequantize_row_q3_K, bk_dequantize_row_q3_K_ref),
        ("q4_K", .Q4_K, bk_quantize_row_q4_K, bk_quantize_row_q4_K_ref,
         bk_dequantize_row_q4_K, bk_dequantize_row_q4_K_ref),
        ("q5_K", .Q5_K, bk_quantize_row_q5_K, bk_quantize_row_q5_K_ref,
         bk_dequantize_row_q5_K, bk_dequantize_row_q5_K_ref),
        ("q6_K", .Q6_K, bk_quantize_row_q6_K, bk_quantize_row_q6_K_ref,
         bk_dequantize_row_q6_K, bk_dequantize_row_q6_K_ref),
    ] }

    struct Case {
        let name: String
        let values: [Float]
        let blocks: [String: [UInt8]]
        let dequantized: [String: [Float]]
    }

    static func vectors() throws -> (cases: [Case], fusedDiffers: [String]) {
        let path = try Fixtures.repositoryPath("Formats/test-vectors/ggml-quants.json")
        let json = try Fixtures.json(atPath: path)
        func bytes(_ v: JSONValue?) throws -> [UInt8] { try Fixtures.base64Bytes(v, in: path) }
        func floats(_ v: JSONValue?) throws -> [Float] { try Fixtures.base64Floats(v, in: path) }
        let cases = try XCTUnwrap(json["cases"]?.array).map { c in
            Case(name: try XCTUnwrap(c["name"]?.string), values: try floats(c["values"]),
                 blocks: try Dictionary(uniqueKeysWithValues: kernels.map {
                     ($0.name, try bytes(c[$0.name]?["blocks"]))
                 }),
                 dequantized: try Dictionary(uniqueKeysWithValues: kernels.map {
                     ($0.name, try floats(c[$0.name]?["dequantized"]))
                 }))
        }
        return (cases, try XCTUnwrap(json["fusedDiffers"]?.array).compactMap(\.string))
    }

    /// Each SIMD level this CPU has, the dispatched kernels capped to it in turn.
    static func forEachLevel(_ body: (Int32) throws -> Void) rethrows {
        defer { bk_set_simd_limit(Int32(BK_SIMD_AVX512_VNNI)) }
        for level in [Int32(BK_SIMD_NONE), Int32(BK_SIMD_AVX2)] where level <= bk_simd_level() {
            bk_set_simd_limit(level)
            try body(level)
        }
    }

    func testQuantizersWriteGGMLBytes() throws {
        let (cases, _) = try Self.vectors()
        XCTAssertGreaterThan(cases.count, 20)
        for c in cases {
            for k in Self.kernels {
                let expected = try XCTUnwrap(c.blocks[k.name])
                XCTAssertEqual(expected.count, c.values.count / k.type.blockLayout.elements * k.type.blockLayout.bytes)
                var out = [UInt8](repeating: 0xA5, count: expected.count)
                k.ref(c.values, &out, c.values.count)
                XCTAssertEqual(out, expected, "\(k.name)_ref on '\(c.name)'")
                Self.forEachLevel { level in
                    out = [UInt8](repeating: 0x5A, count: expected.count)
                    k.fast(c.values, &out, c.values.count)
                    XCTAssertEqual(out, expected, "\(k.name) (SIMD level \(level)) on '\(c.name)'")
                }
            }
        }
    }

    func testDequantizersGiveGGMLValues() throws {
        for c in try Self.vectors().cases {
            for k in Self.kernels {
                let expected = try XCTUnwrap(c.dequantized[k.name])
                let blocks = try XCTUnwrap(c.blocks[k.name])
                for (label, run) in [("ref", k.refBack), ("dispatched", k.fastBack)] {
                    var out = [Float](repeating: 1.5, count: expected.count)
                    run(blocks, &out, expected.count)
                    let bad = zip(out, expected).filter { !sameFloat($0, $1) }.count
                    XCTAssertEqual(bad, 0, "\(k.name) \(label) on '\(c.name)': \(bad) values differ from ggml's")
                }
            }
        }
    }

    /// llama-quantize's ggml-base rounds each product and sum to f32 (no FMA). The vectors hold blocks where a
    /// contracted build writes other bytes (the generator finds them), so passing them pins that choice.
    func testVectorsTellFusedArithmeticApart() throws {
        let (cases, fused) = try Self.vectors()
        for t in ["q2_K", "q4_K", "q5_K", "q6_K"] {
            XCTAssertTrue(fused.contains { $0.hasSuffix("/" + t) }, "no vector tells a fused \(t) apart")
        }
        XCTAssertTrue(fused.allSatisfy { f in cases.contains { f.hasPrefix($0.name + "/") } })
    }

    func testQuantizerTableWritesGGMLBytes() throws {
        for c in try Self.vectors().cases {
            for k in Self.kernels {
                let expected = try XCTUnwrap(c.blocks[k.name])
                for threads in [1, 3] {
                    var out = [UInt8](repeating: 0, count: expected.count)
                    try c.values.withUnsafeBufferPointer { src in
                        try out.withUnsafeMutableBytes {
                            try Quantizer.quantize(k.type, rows: src, rowLength: 256, into: $0, threads: threads)
                        }
                    }
                    XCTAssertEqual(out, expected, "Quantizer \(k.name), \(threads) threads, on '\(c.name)'")
                }
            }
        }
    }

    /// The dispatched kernel `k` at every SIMD level writes the reference's bytes for row `x`.
    static func assertFastEqualsRef(_ k: Kernel, _ x: [Float], _ what: String, line: UInt = #line) {
        let bytes = x.count / k.type.blockLayout.elements * k.type.blockLayout.bytes
        var ref = [UInt8](repeating: 0, count: bytes)
        k.ref(x, &ref, x.count)
        forEachLevel { level in
            var fast = [UInt8](repeating: 1, count: bytes)
            k.fast(x, &fast, x.count)
            XCTAssertEqual(fast, ref, "\(k.name) at SIMD level \(level), \(what)", line: line)
        }
    }

    func testDispatchedEqualsReferenceOnRandomRows() {
        var rng = SplitMix64(seed: 12)
        let n = 256 * 49  // odd: the last super-block is searched alone
        for scale: Float in [0.02, 1, 3e-5, 700] {
            var x = rng.gaussians(n, scale: scale)
            for i in stride(from: 0, to: n, by: 997) { x[i] *= 40 }  // outliers
            for i in 512..<768 { x[i] = 0 }                           // an all-zero super-block
            for k in Self.kernels { Self.assertFastEqualsRef(k, x, "scale \(scale)") }
        }
    }

    /// Rows where the SIMD searches must leave their fast level rounding (bk_quant_k_avx2.c): infinities and NaN,
    /// values near the f32 limits, subnormals, constant and almost constant sub-blocks.
    func testDispatchedEqualsReferenceOnEdgeRows() {
        var rng = SplitMix64(seed: 31)
        let n = 256 * 24
        let specials: [Float] = [.infinity, -.infinity, .nan, 3e38, -3e38, 1e-40, -1e-45, 1e-38, 0, -0.0]
        for round in 0..<12 {
            var x = rng.gaussians(n, scale: round % 2 == 0 ? 0.02 : 1e30)
            for b in 0..<(n / 256) {
                let at = b * 256 + (b * 37 + round * 11) % 256
                switch (b + round) % 6 {
                case 0: x[at] = specials[(b + round) % specials.count]
                case 1: for i in (b * 256)..<(b * 256 + 32) { x[i] = 1e-40 * Float(i % 3) }
                case 2: for i in (b * 256 + 32)..<(b * 256 + 64) { x[i] = 0.25 }
                case 3: for i in (b * 256)..<(b * 256 + 16) { x[i] = -0.5 + Float(i % 2) * 1e-7 }
                case 4: x[at] = specials[(b * 3 + round) % specials.count] * 0.5
                default: break
                }
            }
            for k in Self.kernels where k.type.blockLayout.elements == 256 {
                Self.assertFastEqualsRef(k, x, "round \(round)")
            }
        }
    }

    /// One dispatch for every kernel: the cap that the runtime's tests use also routes the quantizers.
    func testSIMDLimitCapsTheLevel() {
        let cpu = bk_simd_level()
        defer { bk_set_simd_limit(Int32(BK_SIMD_AVX512_VNNI)) }
        bk_set_simd_limit(Int32(BK_SIMD_NONE))
        XCTAssertEqual(bk_simd_level(), Int32(BK_SIMD_NONE))
        bk_set_simd_limit(Int32(BK_SIMD_AVX2))
        XCTAssertEqual(bk_simd_level(), Swift.min(cpu, Int32(BK_SIMD_AVX2)))
    }

    func testRowsOfPartialBlocksAreRefused() {
        for k in Self.kernels {
            let length = k.type.blockLayout.elements + 32 * (k.type.blockLayout.elements == 256 ? 1 : 0) + 16
            assertBloomError(.quantShape) { try Quantizer.bytesPerRow(k.type, rowLength: length) }
            let x = [Float](repeating: 0.5, count: length * 2)
            var out = [UInt8](repeating: 0, count: 4096)
            assertBloomError(.quantShape) {
                try x.withUnsafeBufferPointer { src in
                    try out.withUnsafeMutableBytes {
                        try Quantizer.quantize(k.type, rows: src, rowLength: length, into: $0)
                    }
                }
            }
        }
    }
}
