import BloomCore
import CKernels
import TestSupport
import XCTest
@testable import BloomQuant

/// Bytes and values against gguf-py 0.19 (Tests/Fixtures/expected/quant, made by generate.py's `quant` stage):
/// model rows from tiny-a and edge rows (zeros, rounding ties, Q4_0 clamp, one huge value, subnormals, f16 range edge).
final class QuantizerFixtureTests: XCTestCase {
    struct Case {
        let type: GGMLType
        let bytes: [UInt8]
        let dequantized: [Float]
        let bytesPerRow: Int
    }

    private func load() throws -> (inputs: [Float], rows: Int, cols: Int, descriptions: [String], cases: [Case]) {
        let meta = try Fixtures.json("expected/quant/quant.json")
        let rows = try XCTUnwrap(meta["rows"]?.int), cols = try XCTUnwrap(meta["cols"]?.int)
        let inputs = try Fixtures.floats("expected/quant/" + XCTUnwrap(meta["inputs"]?.string))
        XCTAssertEqual(inputs.count, rows * cols)
        let descriptions = try XCTUnwrap(meta["row_descriptions"]?.array).compactMap(\.string)
        var cases: [Case] = []
        for (name, type) in [("q8_0", GGMLType.Q8_0), ("q4_0", .Q4_0), ("q4_1", .Q4_1)] {
            let entry = try XCTUnwrap(meta["quantized"]?[name], name)
            XCTAssertEqual(entry["ggml_type"]?.int, Int(type.rawValue))
            XCTAssertEqual(entry["block_size"]?.int, type.blockLayout.elements)
            XCTAssertEqual(entry["type_size"]?.int, type.blockLayout.bytes)
            cases.append(Case(type: type,
                              bytes: try Fixtures.bytes("expected/quant/" + XCTUnwrap(entry["file"]?.string)),
                              dequantized: try Fixtures.floats(
                                  "expected/quant/" + XCTUnwrap(entry["dequantized"]?.string)),
                              bytesPerRow: try XCTUnwrap(entry["bytes_per_row"]?.int)))
        }
        return (inputs, rows, cols, descriptions, cases)
    }

    /// The first row and block where two quantized buffers differ, for a readable failure.
    private func firstDifference(_ a: [UInt8], _ b: [UInt8], bytesPerRow: Int, blockBytes: Int,
                                 descriptions: [String]) -> String? {
        guard a != b else { return nil }
        guard a.count == b.count else { return "\(a.count) bytes, expected \(b.count)" }
        let i = a.indices.first { a[$0] != b[$0] }!
        let row = i / bytesPerRow, block = i % bytesPerRow / blockBytes
        let row0 = row * bytesPerRow + block * blockBytes
        let got = a[row0..<row0 + blockBytes].map { String($0, radix: 16) }.joined(separator: " ")
        let want = b[row0..<row0 + blockBytes].map { String($0, radix: 16) }.joined(separator: " ")
        return "row \(row) (\(row < descriptions.count ? descriptions[row] : "?")) block \(block): " +
            "got \(got), gguf-py \(want)"
    }

    func testQuantizedBytesEqualGGUFPy() throws {
        let f = try load()
        for c in f.cases {
            XCTAssertEqual(try Quantizer.bytesPerRow(c.type, rowLength: f.cols), c.bytesPerRow)
            for threads in [1, 2] {
                var out = [UInt8](repeating: 0xAA, count: c.bytes.count)
                try f.inputs.withUnsafeBufferPointer { src in
                    try out.withUnsafeMutableBytes { try Quantizer.quantize(c.type, rows: src, rowLength: f.cols,
                                                                            into: $0, threads: threads) }
                }
                XCTAssertNil(firstDifference(out, c.bytes, bytesPerRow: c.bytesPerRow,
                                             blockBytes: c.type.blockLayout.bytes,
                                             descriptions: f.descriptions), "\(c.type.name), \(threads) threads")
            }
        }
    }

    /// The scalar twins alone (the dispatching path above is SIMD on AVX2 machines).
    func testReferenceQuantizersEqualGGUFPy() throws {
        let f = try load()
        let refs: [GGMLType: (UnsafePointer<Float>?, UnsafeMutableRawPointer?, Int) -> Void] = [
            .Q8_0: bk_quantize_row_q8_0_ref, .Q4_0: bk_quantize_row_q4_0_ref, .Q4_1: bk_quantize_row_q4_1_ref,
        ]
        for c in f.cases {
            var out = [UInt8](repeating: 0xAA, count: c.bytes.count)
            out.withUnsafeMutableBytes { refs[c.type]!(f.inputs, $0.baseAddress, f.inputs.count) }
            XCTAssertNil(firstDifference(out, c.bytes, bytesPerRow: c.bytesPerRow, blockBytes: c.type.blockLayout.bytes,
                                         descriptions: f.descriptions), c.type.name)
        }
    }

    func testDequantizedValuesEqualGGUFPy() throws {
        let f = try load()
        for c in f.cases {
            var out = [Float](repeating: .nan, count: f.inputs.count)
            try c.bytes.withUnsafeBytes { src in
                try out.withUnsafeMutableBufferPointer { try Quantizer.dequantize(c.type, rows: src, rowLength: f.cols,
                                                                                  into: $0) }
            }
            let bad = zip(out, c.dequantized).enumerated().first { !sameFloat($0.element.0, $0.element.1) }
            XCTAssertNil(bad.map {
                "\(c.type.name) value \($0.offset) (row \($0.offset / f.cols)): " +
                    "\($0.element.0) vs gguf-py \($0.element.1)"
            })
        }
    }

    /// f16 and bf16 storage (what convert writes for --type f16/bf16): BloomCore's Precision, bulk and scalar,
    /// against numpy's astype(float16) and gguf-py's BF16 (ggml_compute_fp32_to_bf16), specials included.
    func testF16AndBF16ConversionsEqualNumpyAndGGUFPy() throws {
        let meta = try Fixtures.json("expected/quant/conversions.json")
        let inputs = try Fixtures.floats("expected/quant/" + XCTUnwrap(meta["inputs"]?.string))
        XCTAssertEqual(inputs.count, meta["count"]?.int)
        let f16 = try Fixtures.halves("expected/quant/f16.bin"), bf16 = try Fixtures.halves("expected/quant/bf16.bin")
        XCTAssertEqual(f16.count, inputs.count)
        XCTAssertEqual(bf16.count, inputs.count)
        for (type, expected) in [(GGMLType.F16, f16), (.BF16, bf16)] {
            var bulk = [UInt16](repeating: 0, count: inputs.count)
            try inputs.withUnsafeBufferPointer { src in
                try bulk.withUnsafeMutableBytes { try Quantizer.quantize(type, rows: src, rowLength: inputs.count,
                                                                         into: $0) }
            }
            for (i, x) in inputs.enumerated() {
                let scalar = type == .F16 ? Precision.floatToF16(x) : Precision.floatToBF16(x)
                if x.isNaN {
                    // NaN payloads differ between numpy (keeps a signalling payload) and F16C (quiets it): sign and
                    // NaN-ness only.
                    for got in [bulk[i], scalar] {
                        let asFloat = type == .F16 ? Precision.f16ToFloat(got) : Precision.bf16ToFloat(got)
                        let want = type == .F16 ? Precision.f16ToFloat(expected[i]) : Precision.bf16ToFloat(expected[i])
                        XCTAssertTrue(asFloat.isNaN && want.isNaN && asFloat.sign == want.sign,
                                      "\(type.name) NaN input \(i)")
                    }
                } else {
                    XCTAssertEqual(bulk[i], expected[i], "\(type.name) bulk, input \(i) = \(x)")
                    XCTAssertEqual(scalar, expected[i], "\(type.name) scalar, input \(i) = \(x)")
                }
            }
            // And back: widening is exact, so the stored values come back bit for bit.
            var back = [Float](repeating: 0, count: inputs.count)
            try bulk.withUnsafeBytes { src in
                try back.withUnsafeMutableBufferPointer { try Quantizer.dequantize(type, rows: src,
                                                                                   rowLength: inputs.count, into: $0) }
            }
            for i in inputs.indices {
                let want = type == .F16 ? Float(Float16(bitPattern: expected[i]))
                                        : Float(bitPattern: UInt32(expected[i]) << 16)
                XCTAssertTrue(sameFloat(back[i], want), "\(type.name) widening of \(expected[i])")
            }
        }
    }
}
