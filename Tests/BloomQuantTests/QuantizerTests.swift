import BloomCore
import TestSupport
import XCTest
@testable import BloomQuant

/// The Swift API: shapes and errors, threads, streaming from a SourceTensor, round-trip error bounds.
final class QuantizerTests: XCTestCase {
    static let blockTypes: [GGMLType] = [.Q8_0, .Q4_0, .Q4_1]

    private func quantize(_ type: GGMLType, _ x: [Float], rowLength: Int, threads: Int = 2) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count / rowLength * (try Quantizer.bytesPerRow(type, rowLength: rowLength)))
        try x.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBytes { try Quantizer.quantize(type, rows: src, rowLength: rowLength, into: $0, threads: threads) }
        }
        return out
    }

    private func dequantize(_ type: GGMLType, _ bytes: [UInt8], rowLength: Int, count: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        try bytes.withUnsafeBytes { src in
            try out.withUnsafeMutableBufferPointer { try Quantizer.dequantize(type, rows: src, rowLength: rowLength, into: $0) }
        }
        return out
    }

    func testBytesPerRow() throws {
        XCTAssertEqual(try Quantizer.bytesPerRow(.Q8_0, rowLength: 1024), 1024 / 32 * 34)
        XCTAssertEqual(try Quantizer.bytesPerRow(.Q4_0, rowLength: 64), 36)
        XCTAssertEqual(try Quantizer.bytesPerRow(.Q4_1, rowLength: 32), 20)
        XCTAssertEqual(try Quantizer.bytesPerRow(.F16, rowLength: 33), 66)
        XCTAssertEqual(try Quantizer.bytesPerRow(.F32, rowLength: 3), 12)
        assertBloomError(.quantShape) { try Quantizer.bytesPerRow(.Q4_0, rowLength: 48) }
        assertBloomError(.quantShape) { try Quantizer.bytesPerRow(.Q8_0, rowLength: -32) }
        assertBloomError(.overflow) { try Quantizer.bytesPerRow(.F32, rowLength: Int.max) }
    }

    func testShapeAndTypeErrors() throws {
        let x = [Float](repeating: 1, count: 96)
        var dst = [UInt8](repeating: 0, count: 1000)
        try x.withUnsafeBufferPointer { src in
            try dst.withUnsafeMutableBytes { all in
                let q4Row = UnsafeMutableRawBufferPointer(rebasing: all[0..<54])
                assertBloomError(.quantShape) { try Quantizer.quantize(.Q4_0, rows: src, rowLength: 48, into: q4Row) }  // not whole blocks
                assertBloomError(.quantShape) { try Quantizer.quantize(.Q4_0, rows: src, rowLength: 64, into: q4Row) }  // 96 is not whole rows of 64
                assertBloomError(.quantShape) {
                    try Quantizer.quantize(.Q4_0, rows: src, rowLength: 32, into: UnsafeMutableRawBufferPointer(rebasing: all[0..<53]))
                }
                assertBloomError(.quantShape) {
                    try Quantizer.quantize(.Q4_0, rows: src, rowLength: 32, into: UnsafeMutableRawBufferPointer(rebasing: all[0..<55]))
                }
                assertBloomError(.quantUnsupportedType) { try Quantizer.quantize(.IQ4_NL, rows: src, rowLength: 32, into: q4Row) }
                assertBloomError(.quantUnsupportedType) { try Quantizer.quantize(.Q8_K, rows: src, rowLength: 256, into: q4Row) }
                assertBloomError(.quantShape) { try Quantizer.quantize(.Q4_K, rows: src, rowLength: 32, into: q4Row) }
                try Quantizer.quantize(.Q4_0, rows: src, rowLength: 32, into: q4Row)
                try Quantizer.quantize(.F16, rows: src, rowLength: 3, into: UnsafeMutableRawBufferPointer(rebasing: all[0..<192]))
                // Nothing to do is not an error.
                try Quantizer.quantize(.Q8_0, rows: UnsafeBufferPointer(rebasing: src[0..<0]), rowLength: 32,
                                       into: UnsafeMutableRawBufferPointer(rebasing: all[0..<0]))
                try Quantizer.quantize(.Q8_0, rows: UnsafeBufferPointer(rebasing: src[0..<0]), rowLength: 0,
                                       into: UnsafeMutableRawBufferPointer(rebasing: all[0..<0]))
            }
        }
        var out = [Float](repeating: 0, count: 64)
        try dst.withUnsafeBytes { src in
            try out.withUnsafeMutableBufferPointer { y in
                assertBloomError(.quantShape) { try Quantizer.dequantize(.Q8_0, rows: UnsafeRawBufferPointer(rebasing: src[0..<67]), rowLength: 64, into: y) }
                assertBloomError(.quantUnsupportedType) {
                    try Quantizer.dequantize(.IQ2_XS, rows: UnsafeRawBufferPointer(rebasing: src[0..<74]), rowLength: 256, into: y)
                }
                assertBloomError(.quantShape) {
                    try Quantizer.dequantize(.Q6_K, rows: UnsafeRawBufferPointer(rebasing: src[0..<210]), rowLength: 64, into: y)
                }
                try Quantizer.dequantize(.Q8_0, rows: UnsafeRawBufferPointer(rebasing: src[0..<68]), rowLength: 64, into: y)
            }
        }
    }

    /// Several chunks (rows × length > one chunk), odd and even thread counts: the same bytes and the same error.
    func testThreadCountChangesNothing() throws {
        var rng = SplitMix64(seed: 10)
        let rowLength = 1024, rows = 100
        let x = rng.gaussians(rows * rowLength, scale: 0.05)
        XCTAssertGreaterThan(x.count, 2 * Quantizer.chunkValues)
        for type in Self.blockTypes + [.F16, .BF16, .F32] {
            var results: [([UInt8], QuantizationError)] = []
            for threads in [1, 2, 3, 8] {
                var out = [UInt8](repeating: 0, count: rows * (try Quantizer.bytesPerRow(type, rowLength: rowLength)))
                let error = try x.withUnsafeBufferPointer { src in
                    try out.withUnsafeMutableBytes {
                        try Quantizer.quantizeMeasuringError(type, rows: src, rowLength: rowLength, into: $0, threads: threads)
                    }
                }
                results.append((out, error))
            }
            for r in results.dropFirst() {
                XCTAssertEqual(r.0, results[0].0, type.name)
                XCTAssertEqual(r.1, results[0].1, type.name)
            }
            XCTAssertEqual(results[0].1.count, x.count)
            XCTAssertEqual(try quantize(type, x, rowLength: rowLength, threads: 1), results[0].0, "\(type.name) without measuring")
        }
    }

    /// Block pointers need no alignment (GGUF data may sit at any offset of a mapped file).
    func testUnalignedBuffers() throws {
        var rng = SplitMix64(seed: 11)
        let x = rng.gaussians(256, scale: 1)
        for type in Self.blockTypes {
            let aligned = try quantize(type, x, rowLength: 128)
            var shifted = [UInt8](repeating: 0, count: aligned.count + 1)
            try x.withUnsafeBufferPointer { src in
                try shifted.withUnsafeMutableBytes {
                    try Quantizer.quantize(type, rows: src, rowLength: 128, into: UnsafeMutableRawBufferPointer(rebasing: $0[1...]))
                }
            }
            XCTAssertEqual(Array(shifted[1...]), aligned, type.name)
            let back = try dequantize(type, aligned, rowLength: 128, count: 256)
            var fromShifted = [Float](repeating: 0, count: 256)
            try shifted.withUnsafeBytes { src in
                try fromShifted.withUnsafeMutableBufferPointer {
                    try Quantizer.dequantize(type, rows: UnsafeRawBufferPointer(rebasing: src[1...]), rowLength: 128, into: $0)
                }
            }
            XCTAssertEqual(fromShifted, back, type.name)
        }
    }

    func testStreamingFromSourceTensorEqualsInMemoryRows() throws {
        var rng = SplitMix64(seed: 12)
        let rows = 70, rowLength = 2048  // 5 chunks of 16 rows, the last one short
        let x = rng.gaussians(rows * rowLength, scale: 0.1)
        let tensor = SourceTensor(name: "t", dtype: .F32, shape: [rows, rowLength]) { start, count, dst in
            for i in 0..<count * rowLength { dst[i] = x[start * rowLength + i] }
        }
        for type in Self.blockTypes {
            let expected = try quantize(type, x, rowLength: rowLength)
            let expectedError = try x.withUnsafeBufferPointer { src in
                var scratch = expected
                return try scratch.withUnsafeMutableBytes { try Quantizer.quantizeMeasuringError(type, rows: src, rowLength: rowLength, into: $0) }
            }
            for measuring in [false, true] {
                for threads in [1, 2, 3] {
                    var out: [UInt8] = []
                    let error = try Quantizer.quantize(type, tensor: tensor, measuringError: measuring, threads: threads) {
                        out += $0
                    }
                    XCTAssertEqual(out, expected, type.name)
                    XCTAssertEqual(error, measuring ? expectedError : nil, type.name)
                }
            }
        }
    }

    func testStreamingRethrowsTheFirstReadError() throws {
        struct ReadFailure: Error, Equatable { let row: Int }
        let tensor = SourceTensor(name: "t", dtype: .F32, shape: [1000, 64]) { start, count, dst in
            if start + count > 600 { throw ReadFailure(row: start) }
            for i in 0..<count * 64 { dst[i] = 1 }
        }
        var written = 0
        XCTAssertThrowsError(try Quantizer.quantize(.Q4_0, tensor: tensor, threads: 1) { written += $0.count }) {
            XCTAssertEqual($0 as? ReadFailure, ReadFailure(row: 512))  // chunks of 512 rows of 64: the second one fails
        }
        XCTAssertEqual(written, 512 * 36, "the chunk before the failure is written, nothing after it")
        XCTAssertThrowsError(try Quantizer.quantize(.Q4_0, tensor: tensor, threads: 2) { _ in })
        let wrongShape = SourceTensor(name: "t", dtype: .F32, shape: [4, 48]) { _, _, _ in }
        assertBloomError(.quantShape) { try Quantizer.quantize(.Q4_0, tensor: wrongShape) { _ in } }
    }

    /// dequantize(quantize(x)) is within each format's bound, block by block:
    /// Q8_0 half a step (amax/127); Q4_0 one step (|max|/8: +8 steps clamp to +7); Q4_1 half a step ((max-min)/15);
    /// plus the fp16 rounding of the scale (and Q4_1's min), 2^-11 relative, times the largest quant.
    func testRoundTripErrorWithinTheFormatsBound() throws {
        var rng = SplitMix64(seed: 13)
        let rowLength = 256
        for scale: Float in [0.05, 1, 30] {
            var x = rng.gaussians(64 * rowLength, scale: scale)
            for i in stride(from: 7, to: x.count, by: 97) { x[i] += 3 * scale }  // skew some blocks (Q4_1's min ≠ -max)
            let u = Float(1) / 2048
            for type in Self.blockTypes {
                let y = try dequantize(type, try quantize(type, x, rowLength: rowLength), rowLength: rowLength, count: x.count)
                for b in 0..<x.count / 32 {
                    let block = x[b * 32..<b * 32 + 32]
                    let amax = block.map(abs).max()!, lo = block.min()!, hi = block.max()!
                    let bound: Float
                    switch type {
                    case .Q8_0: bound = amax / 127 * (0.5 + 127 * u)
                    case .Q4_0: bound = amax / 8 * (1 + 8 * u)
                    default: bound = (hi - lo) / 15 * (0.5 + 15 * u) + abs(lo) * u
                    }
                    for j in block.indices {
                        XCTAssertLessThanOrEqual(abs(x[j] - y[j]), bound * 1.0001, "\(type.name) × \(scale), block \(b), value \(j)")
                    }
                }
            }
        }
    }

    /// The error figures against a plain f64 loop written here.
    func testQuantizationErrorFigures() throws {
        var rng = SplitMix64(seed: 14)
        let x = rng.gaussians(4096, scale: 2)
        var bytes = [UInt8](repeating: 0, count: 4096 / 32 * 18)
        let measured = try x.withUnsafeBufferPointer { src in
            try bytes.withUnsafeMutableBytes { try Quantizer.quantizeMeasuringError(.Q4_0, rows: src, rowLength: 512, into: $0) }
        }
        let y = try dequantize(.Q4_0, bytes, rowLength: 512, count: x.count)
        var sse = 0.0, ssx = 0.0, maxAbs = 0.0
        for i in x.indices {
            let e = Double(x[i]) - Double(y[i])
            sse += e * e
            ssx += Double(x[i]) * Double(x[i])
            maxAbs = max(maxAbs, abs(e))
        }
        XCTAssertEqual(measured.count, x.count)
        XCTAssertEqual(measured.nonFiniteCount, 0)
        XCTAssertEqual(measured.maxAbs, maxAbs)
        XCTAssertEqual(measured.rmse, (sse / Double(x.count)).squareRoot(), accuracy: 1e-12 * measured.rmse)
        XCTAssertEqual(measured.snrDB, 10 * log10(ssx / sse), accuracy: 1e-9)
        // Merging pieces gives the whole.
        let halves = x.withUnsafeBufferPointer { xs in
            y.withUnsafeBufferPointer { ys in
                [0..<2048, 2048..<4096].map {
                    QuantizationError.measure(original: UnsafeBufferPointer(rebasing: xs[$0]), roundTrip: UnsafeBufferPointer(rebasing: ys[$0]))
                }
            }
        }
        let merged = halves[0].merging(halves[1])
        XCTAssertEqual(merged.count, measured.count)
        XCTAssertEqual(merged.maxAbs, measured.maxAbs)
        XCTAssertEqual(merged.sumSquaredError, measured.sumSquaredError, accuracy: 1e-12 * sse)
        // Exact round trip; non-finite pairs counted apart.
        let exact = [Float(1), 2, .nan, .infinity]
        let e = exact.withUnsafeBufferPointer { QuantizationError.measure(original: $0, roundTrip: $0) }
        XCTAssertEqual(e.count, 2)
        XCTAssertEqual(e.nonFiniteCount, 2)
        XCTAssertEqual(e.snrDB, .infinity)
        XCTAssertEqual(e.rmse, 0)
        XCTAssertEqual(QuantizationError().rmse, 0)
    }
}
