import BloomCore
import CKernels
import TestSupport
import XCTest

/// bk_convert.h: f16 and bf16 conversions, the bulk (F16C) paths against their scalar *_ref twins and Float16.
final class ConversionKernelTests: XCTestCase {
    typealias Convert<Source, Target> = (UnsafePointer<Source>?, UnsafeMutablePointer<Target>?, Int) -> Void

    /// `input` through a bulk conversion and through its scalar twin.
    static func twins<Source, Target>(_ input: [Source], _ bulk: Convert<Source, Target>,
                                      _ ref: Convert<Source, Target>, zero: Target) -> (bulk: [Target], ref: [Target]) {
        var a = [Target](repeating: zero, count: input.count), b = a
        bulk(input, &a, input.count)
        ref(input, &b, input.count)
        return (a, b)
    }

    /// Every f16 bit pattern: the scalar twin equals the hardware's Float16 (an independent implementation),
    /// and the bulk (F16C) path equals the scalar twin bit for bit.
    func testF16ToF32AllPatterns() {
        let all = (0...0xFFFF).map { UInt16($0) }
        let (bulk, ref) = Self.twins(all, bk_f16_to_f32, bk_f16_to_f32_ref, zero: Float(0))
        for (k, h) in all.enumerated() {
            let expected = Float(Float16(bitPattern: h))
            if expected.isNaN {
                XCTAssertTrue(ref[k].isNaN && bulk[k].isNaN, "NaN \(h)")
            } else {
                XCTAssertEqual(ref[k].bitPattern, expected.bitPattern, "f16 \(h)")
                XCTAssertEqual(bulk[k].bitPattern, ref[k].bitPattern, "f16 \(h)")
            }
        }
    }

    func testF32ToF16RoundingEdges() {
        var inputs: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, .infinity, -.infinity,
                               Float(bitPattern: 0x3300_0000), Float(bitPattern: 0x3300_0001),
                               Float(bitPattern: 0x337F_FFFF),
                               Float(bitPattern: 0x3880_0000), Float(bitPattern: 0x387F_FFFF), .leastNonzeroMagnitude,
                               1 + Float(bitPattern: 0x3A00_0000), // 1 + 2^-11: a tie, rounds to even (1.0)
                               1 + 3 * Float(bitPattern: 0x3A00_0000)] // 1 + 3*2^-11: tie, rounds up
        var rng = SplitMix64(seed: 1)
        inputs += rng.anyFloats(200_000)
        let (bulk, ref) = Self.twins(inputs, bk_f32_to_f16, bk_f32_to_f16_ref, zero: UInt16(0))
        for (k, x) in inputs.enumerated() {
            let expected = Float16(x).bitPattern
            if x.isNaN {
                XCTAssertTrue(Float16(bitPattern: ref[k]).isNaN && Float16(bitPattern: bulk[k]).isNaN)
            } else {
                XCTAssertEqual(ref[k], expected, "f32 \(x) (\(x.bitPattern))")
                XCTAssertEqual(bulk[k], ref[k], "f32 \(x) (\(x.bitPattern))")
            }
        }
    }

    func testBF16() {
        var inputs: [Float] = [0, -0, 1, .infinity, -.infinity, .nan, Float(bitPattern: 0x7F80_0001),
                               Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
                               Float(bitPattern: 0x0000_8000),
                               Float(bitPattern: 0x7F7F_FFFF)]
        var rng = SplitMix64(seed: 2)
        inputs += rng.anyFloats(100_000)
        let (bulk, ref) = Self.twins(inputs, bk_f32_to_bf16, bk_f32_to_bf16_ref, zero: UInt16(0))
        XCTAssertEqual(bulk, ref)
        XCTAssertEqual(ref[7], 0x3F80)  // tie to even (down)
        XCTAssertEqual(ref[8], 0x3F82)  // tie to even (up)
        XCTAssertEqual(ref[10], 0x7F80) // max float rounds to Inf, as ggml does
        XCTAssertTrue(Precision.bf16ToFloat(ref[6]).isNaN) // signalling NaN stays NaN
        let (back, backRef) = Self.twins(ref, bk_bf16_to_f32, bk_bf16_to_f32_ref, zero: Float(0))
        XCTAssertEqual(back.map(\.bitPattern), backRef.map(\.bitPattern))
    }
}
