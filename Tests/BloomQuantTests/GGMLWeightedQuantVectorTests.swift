import BloomCore
import CKernels
@testable import BloomQuant
import Foundation
import TestSupport
import XCTest

/// Importance-weighted quantization against ggml's own bytes: Formats/test-vectors/ggml-quants-weighted.json,
/// written by ggml-quants.py from quantize_<type>(rows, n_per_row, importance), the call llama-quantize --imatrix
/// makes, with ggml-quants.c compiled as llama-quantize's ggml-base is (no FMA contraction).
final class GGMLWeightedQuantVectorTests: XCTestCase {
    static let types: [(name: String, type: GGMLType)] = [
        ("q4_0", .Q4_0), ("q4_1", .Q4_1), ("q5_0", .Q5_0), ("q5_1", .Q5_1),
        ("q2_K", .Q2_K), ("q3_K", .Q3_K), ("q4_K", .Q4_K), ("q5_K", .Q5_K), ("q6_K", .Q6_K),
    ]

    struct Case {
        let name: String
        let values: [Float]
        let importance: [Float]
        let blocks: [String: [UInt8]]
    }

    static func vectors() throws -> (cases: [Case], fusedDiffers: [String]) {
        let path = try Fixtures.repositoryPath("Formats/test-vectors/ggml-quants-weighted.json")
        let json = try Fixtures.json(atPath: path)
        func bytes(_ v: JSONValue?) throws -> [UInt8] { try Fixtures.base64Bytes(v, in: path) }
        func floats(_ v: JSONValue?) throws -> [Float] { try Fixtures.base64Floats(v, in: path) }
        let cases = try XCTUnwrap(json["cases"]?.array).map { c in
            Case(name: try XCTUnwrap(c["name"]?.string), values: try floats(c["values"]),
                 importance: try floats(c["importance"]),
                 blocks: try Dictionary(uniqueKeysWithValues: types.map { ($0.name, try bytes(c[$0.name])) }))
        }
        return (cases, try XCTUnwrap(json["fusedDiffers"]?.array).compactMap(\.string))
    }

    /// Each row through the weighted row function of `Quantizer.weightedCodecs`.
    func testWeightedRowsWriteGGMLBytes() throws {
        let (cases, _) = try Self.vectors()
        XCTAssertGreaterThan(cases.count, 15)
        for c in cases {
            let rowLength = c.importance.count
            XCTAssertEqual(c.values.count % rowLength, 0, c.name)
            for t in Self.types {
                let expected = try XCTUnwrap(c.blocks[t.name])
                let encode = try XCTUnwrap(Quantizer.weightedCodecs.first { $0.type == t.type }?.encode, t.name)
                let rowBytes = try Quantizer.bytesPerRow(t.type, rowLength: rowLength)
                XCTAssertEqual(expected.count, c.values.count / rowLength * rowBytes, "\(t.name) on '\(c.name)'")
                var out = [UInt8](repeating: 0xA5, count: expected.count)
                out.withUnsafeMutableBytes { dst in
                    for r in 0..<(c.values.count / rowLength) {
                        c.values.withUnsafeBufferPointer { x in
                            encode(x.baseAddress! + r * rowLength, dst.baseAddress! + r * rowBytes, rowLength,
                                   c.importance)
                        }
                    }
                }
                XCTAssertEqual(out, expected, "weighted \(t.name) on '\(c.name)'")
            }
        }
    }

    /// The streamed engine (`Quantizer.quantize(_:tensor:importance:)`) on one and on several threads: the same
    /// bytes.
    func testStreamedWeightedQuantizationWritesGGMLBytes() throws {
        for c in try Self.vectors().cases where c.values.count > c.importance.count {
            let rowLength = c.importance.count, values = c.values
            let source = SourceTensor(name: c.name, dtype: .F32, shape: [values.count / rowLength, rowLength]) {
                start, count, dst in
                for i in 0..<(count * rowLength) { dst[i] = values[start * rowLength + i] }
            }
            for t in Self.types {
                for threads in [1, 3] {
                    var out: [UInt8] = []
                    try Quantizer.quantize(t.type, tensor: source, importance: c.importance, threads: threads) {
                        out += $0
                    }
                    XCTAssertEqual(out, c.blocks[t.name], "\(t.name), \(threads) threads, on '\(c.name)'")
                }
            }
        }
    }

    /// llama-quantize's ggml-base rounds each product and sum to f32 (no FMA); the vectors hold a row for each type
    /// where a contracted build writes other bytes, so passing them pins that choice.
    func testVectorsTellFusedArithmeticApart() throws {
        let (cases, fused) = try Self.vectors()
        for t in Self.types {
            XCTAssertTrue(fused.contains { $0.hasSuffix("/" + t.name) }, "no vector tells a fused \(t.name) apart")
        }
        XCTAssertTrue(fused.allSatisfy { f in cases.contains { f.hasPrefix($0.name + "/") } })
    }
}
