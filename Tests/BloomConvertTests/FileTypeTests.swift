import BloomArch
import BloomCore
@testable import BloomConvert
import BloomGGUF
import Foundation
import TestSupport
import XCTest

/// Each tensor gets the type llama-quantize gives it, for every file type: expected/quant-types/*.json, written by
/// Tests/Fixtures/generate_quant_types.py from llama-quantize's output.
final class FileTypeTests: XCTestCase {
    /// expected/quant-types/bloom-560m.json, bloom-7b1.json: types from `llama-quantize --dry-run` on real shapes.
    struct Shaped: Decodable {
        struct Types: Decodable {
            var base: String
            var others: [String: String]
            var file_type: String?
            var flags: [String]?
            var untied: Bool?
        }
        var hidden: Int
        var layers: Int
        var heads: Int
        var vocab: Int
        var outputs: [String: Types]
        var variants: [String: Types]
    }

    /// expected/quant-types/tiny-*.json: [ggml type, xxh64 of the bytes] per quantizable tensor.
    struct Tiny: Decodable {
        struct Tensors: Decodable {
            var file_type: Int?
            var made_by: String?
            var tensors: [String: [String]]
        }
        var input: Tensors
        var outputs: [String: Tensors]
    }

    static func load<T: Decodable>(_ name: String, as: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: try Fixtures.url("expected/quant-types/\(name).json")))
    }

    static func ggmlType(_ name: String) throws -> GGMLType {
        try XCTUnwrap(GGMLType.allCases.first { "\($0)" == name.uppercased() }, "ggml type \(name)")
    }

    /// llama-quantize's flags as bloomkit's overrides.
    static func overrides(_ flags: [String]) throws -> TensorTypeOverrides {
        var o = TensorTypeOverrides()
        var rest = flags[...]
        while let flag = rest.popFirst() {
            switch flag {
            case "--pure": o.pure = true
            case "--output-tensor-type":
                o.outputType = try FileType.tensorType(named: try XCTUnwrap(rest.popFirst()))
            case "--token-embedding-type":
                o.embeddingType = try FileType.tensorType(named: try XCTUnwrap(rest.popFirst()))
            case "--tensor-type":
                let spec = try XCTUnwrap(rest.popFirst()).split(separator: "=")
                o.patterns.append((String(spec[0]), try FileType.tensorType(named: String(spec[1]))))
            default: XCTFail("flag \(flag)")
            }
        }
        return o
    }

    func testRealShapesGetLlamaQuantizesTypes() throws {
        for name in ["bloom-560m", "bloom-7b1"] {
            let doc = try Self.load(name, as: Shaped.self)
            let h = try BloomHyperParameters(vocabSize: doc.vocab, contextLength: doc.hidden,
                                             embeddingLength: doc.hidden, feedForwardLength: 4 * doc.hidden,
                                             blockCount: doc.layers, headCount: doc.heads, layerNormEpsilon: 1e-5)
            var cases = doc.outputs.map { (ftype: $0.key, label: $0.key, types: $0.value) }
            cases += doc.variants.map { (ftype: $0.value.file_type ?? "", label: $0.key, types: $0.value) }
            XCTAssertEqual(doc.outputs.count, 14)
            for c in cases {
                let tensors = BloomTensorNames.expected(h, separateOutput: c.types.untied ?? false)
                let overrides = try Self.overrides(c.types.flags ?? [])
                let chosen = try FileType.named(c.ftype).tensorTypes(tensors, blockCount: h.blockCount,
                                                                     overrides: overrides)
                let base = try Self.ggmlType(c.types.base)
                var quantizable = 0
                for (t, choice) in zip(tensors, chosen.choices) {
                    guard BloomTensorNames.isQuantizable(t.name, ne: t.ne) else {
                        XCTAssertNil(choice, "\(name) \(c.label) \(t.name)")
                        continue
                    }
                    quantizable += 1
                    let expected = try c.types.others[t.name].map(Self.ggmlType) ?? base
                    XCTAssertEqual(choice?.type, expected, "\(name) \(c.label) \(t.name)")
                }
                XCTAssertEqual(quantizable, 4 * doc.layers + 1 + (c.types.untied == true ? 1 : 0))
                XCTAssertTrue(Set(c.types.others.keys).isSubset(of: Set(tensors.map(\.name))), "\(name) \(c.label)")
            }
        }
    }

    func testFileTypeNamesAndNumbersAreLlamaQuantizes() throws {
        let doc = try Self.load("tiny-b-f16", as: Tiny.self)
        XCTAssertEqual(doc.outputs.count, 14)
        for (ftype, out) in doc.outputs {
            let t = try FileType.named(ftype)
            XCTAssertEqual(Int(t.number), out.file_type, ftype)
            XCTAssertEqual(try FileType.named(ftype.lowercased()), t, "case-insensitive")
            XCTAssertEqual(try FileType.named(String(t.number)), t, "by number, as llama-quantize takes it")
        }
        XCTAssertEqual(try FileType.named("q4_k"), .Q4_K_M)
        assertBloomError(.invalidArgument) { try FileType.named("q4_k_x") }
        XCTAssertEqual(try FileType.tensorType(named: "q6_K"), .Q6_K)
        assertBloomError(.invalidArgument) { try FileType.tensorType(named: "q8_1") }
        XCTAssertTrue(FileType.helpTable.split(separator: "\n").allSatisfy { $0.count <= 80 })
        XCTAssertEqual(FileType.helpTable.split(separator: "\n").count, FileType.all.count + 2)
    }

    /// Tiny models (rows of 64, 96, 256 and 384 values: llama-quantize's fallbacks): bloomkit's types and bytes for
    /// every file type, from the checkpoint (convert) and from the F16/BF16 file (quantize).
    func testTinyModelsGetLlamaQuantizesTypesAndBytes() throws {
        let tmp = try TempDir("file-type-tests")
        let inputs = [("tiny-a-bf16", "models/tiny-a/st-bf16-sharded", FileType.BF16, false),
                      ("tiny-b-f16", "models/tiny-b/st-f16", .F16, false),
                      ("tiny-b-f16-separate-output", "models/tiny-b/st-f16", .F16, true)]
        var compared = 0
        for (name, folder, inputType, separate) in inputs {
            let doc = try Self.load(name, as: Tiny.self)
            let input = try ConvertInput(folder: try Fixtures.path(folder))
            var options = ConvertOptions()
            options.type = inputType
            options.separateOutput = separate
            let source = tmp.file("\(name).gguf")
            _ = try Converter.convert(input, to: source, options: options)
            try assertTensors(try GGUFFile(path: source), doc.input.tensors, "\(name) input")
            for (ftype, expected) in doc.outputs.sorted(by: { $0.key < $1.key }) {
                options.type = try FileType.named(ftype)
                let plan = try ConvertPlan.make(sources: input.tensors, hyperParameters: input.hyperParameters,
                                                tiedOutput: input.tiedOutput, options: options).tensors
                for t in plan where expected.tensors[t.info.name] != nil {
                    XCTAssertEqual(t.info.type, try Self.ggmlType(expected.tensors[t.info.name]![0]),
                                   "\(name) \(ftype) \(t.info.name)")
                }
                XCTAssertEqual(plan.filter { expected.tensors[$0.info.name] != nil }.count, expected.tensors.count)
                let direct = tmp.file("\(name)-\(ftype).gguf")
                let quantized = tmp.file("\(name)-\(ftype)-q.gguf")
                _ = try Converter.convert(input, to: direct, options: options)
                _ = try GGUFQuantizer.quantize(input: source, output: quantized, options: options,
                                               allowRequantize: false)
                for path in [direct, quantized] {
                    let file = try GGUFFile(path: path)
                    try assertTensors(file, expected.tensors, "\(name) \(ftype) \(path)")
                    XCTAssertEqual(Int(try file.metadata.uint32(BloomGGUFKeys.fileType)), expected.file_type)
                }
                compared += 1
            }
        }
        XCTAssertEqual(compared, 3 * 14)
    }

    private func assertTensors(_ file: GGUFFile, _ expected: [String: [String]], _ label: String) throws {
        for (name, typeAndHash) in expected {
            let t = try XCTUnwrap(file.tensor(named: name), "\(label) \(name)")
            XCTAssertEqual(t.type, try Self.ggmlType(typeAndHash[0]), "\(label) \(name)")
            let hash = String(XXHash64.hash(t.bytes), radix: 16)
            XCTAssertEqual(String(repeating: "0", count: 16 - hash.count) + hash, typeAndHash[1], "\(label) \(name)")
        }
    }
}
