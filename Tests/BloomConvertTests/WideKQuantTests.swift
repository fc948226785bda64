import BloomCore
import BloomGGUF
import Foundation
import TestSupport
import XCTest
@testable import BloomConvert

/// The K kernels at file level: models/wide/st-f16 has rows of 256 and 1024 values, so llama-quantize's K mixes
/// give its tensors Q2_K … Q6_K themselves (the tiny models' rows take the fallback types). Oracle:
/// expected/wide/quantized-sha256.json (Tests/Fixtures/generate_wide.py): llama.cpp's converter wrote the F16 file,
/// llama-imatrix the importance matrix, llama-quantize each mix with and without it; per tensor its type and sha256.
final class WideKQuantTests: XCTestCase {
    static let imatrixLabel = "Tests/Fixtures/expected/wide/imatrix-c64.gguf"  // as llama-quantize was given it
    /// The mixes that between them reach every K kernel, plain and weighted (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K); the
    /// fixture holds all nine, the rest differ only in which tensor gets which of these types (FileTypeTests).
    static let mixes: [FileType] = [.Q2_K, .Q3_K_M, .Q4_K_M, .Q5_K_M, .Q6_K]

    struct Expected: Decodable {
        /// A metadata value as gguf-py read it: a string or an integer.
        enum Key: Decodable, Equatable {
            case string(String), int(Int)
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
            }
            /// nil for any other kind of value (which then fails the comparison).
            init?(_ value: GGUFValue) {
                if let i = value.integer { self = .int(i) } else if case .string(let s) = value { self = .string(s) }
                else { return nil }
            }
        }
        struct Run: Decodable {
            var tensors: [String: [String]]
            var keys: [String: Key]
        }
        var input: [String: [String]]
        var plain: [String: Run]
        var imatrix: [String: Run]
    }

    private var scratch: TempDir!
    override func setUpWithError() throws { scratch = try TempDir("wide-k") }
    override func tearDown() { scratch = nil }

    private static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self,
                                 from: Data(contentsOf: try Fixtures.url("expected/wide/quantized-sha256.json")))
    }

    private func checkpoint() throws -> ConvertInput {
        try ConvertInput(folder: try Fixtures.path("models/wide/st-f16"))
    }

    private func options(_ type: FileType, weighted: Bool) throws -> ConvertOptions {
        var options = ConvertOptions()
        options.type = type
        if weighted {
            options.imatrix = (Self.imatrixLabel,
                               try ImportanceMatrix(path: try Fixtures.path("expected/wide/imatrix-c64.gguf")))
        }
        return options
    }

    /// Every tensor of `path` has the type and the bytes of llama.cpp's, and no tensor is missing or extra.
    private func assertSame(_ path: String, _ expected: [String: [String]], _ label: String) throws {
        let file = try GGUFFile(path: path)
        XCTAssertEqual(Set(file.tensors.map(\.name)), Set(expected.keys), label)
        for t in file.tensors {
            guard let e = expected[t.name] else { continue }
            XCTAssertEqual([t.type.name.uppercased(), SHA256.hex(t.bytes)], e, "\(label) \(t.name)")
        }
    }

    private func runs(_ doc: Expected) throws -> [(type: FileType, weighted: Bool, run: Expected.Run)] {
        try Self.mixes.flatMap { type in
            [(type, false, try XCTUnwrap(doc.plain[type.name], type.name)),
             (type, true, try XCTUnwrap(doc.imatrix[type.name], type.name))]
        }
    }

    /// `convert --type f16` writes the F16 file llama.cpp's converter wrote; `quantize [--imatrix]` of it writes
    /// llama-quantize's bytes for every tensor, its general.file_type and its quantize.imatrix.* keys.
    func testQuantizeOfTheF16FileEqualsLlamaQuantize() throws {
        let doc = try Self.expected()
        XCTAssertEqual(Set(doc.plain.keys), Set(doc.imatrix.keys))
        let f16 = scratch.file("wide-f16.gguf")
        _ = try Converter.convert(try checkpoint(), to: f16, options: try options(.F16, weighted: false))
        try assertSame(f16, doc.input, "convert f16")
        for (type, weighted, run) in try runs(doc) {
            let label = "quantize \(type.name)\(weighted ? " --imatrix" : "")"
            let out = scratch.file("\(type.name)-\(weighted).gguf")
            _ = try GGUFQuantizer.quantize(input: f16, output: out, options: try options(type, weighted: weighted),
                                           allowRequantize: false)
            try assertSame(out, run.tensors, label)
            let metadata = try GGUFFile(path: out).metadata
            let keys = metadata.entries.filter { $0.key.hasPrefix("quantize.") || $0.key == "general.file_type" }
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: keys.map { ($0.key, Expected.Key($0.value)) }),
                           run.keys.mapValues { Optional($0) }, label)
        }
    }

    /// `convert [--imatrix] --type MIX` straight from the f16 checkpoint: every tensor as llama-quantize wrote it.
    /// Every mix with the importance matrix (found by GGUF name while the checkpoint is read) and Q4_K_M without;
    /// the other plain runs would only repeat kernels the quantize test has checked (debug builds run -O0 kernels).
    func testConvertOfTheCheckpointEqualsLlamaQuantize() throws {
        let doc = try Self.expected()
        let input = try checkpoint()
        for (type, weighted, run) in try runs(doc) where weighted || type == .Q4_K_M {
            let out = scratch.file("convert-\(type.name)-\(weighted).gguf")
            _ = try Converter.convert(input, to: out, options: try options(type, weighted: weighted))
            try assertSame(out, run.tensors, "convert \(type.name)\(weighted ? " --imatrix" : "")")
        }
    }

    /// The fixture reaches what it is for: each K block type, with and without the importance matrix.
    func testTheMixesReachEveryKType() throws {
        let doc = try Self.expected()
        for kind in [doc.plain, doc.imatrix] {
            let types = Set(Self.mixes.flatMap { kind[$0.name]?.tensors.values.map { $0[0] } ?? [] })
            XCTAssertTrue(["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"].allSatisfy(types.contains), "\(types)")
        }
    }
}
