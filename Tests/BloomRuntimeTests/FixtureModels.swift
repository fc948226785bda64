import BloomArch
import BloomConvert
import BloomCore
import BloomGGUF
import BloomTokenizer
import Foundation
import TestSupport
import XCTest
@testable import BloomRuntime

/// The fixture models (Tests/Fixtures, see its README) converted to GGUF with bloomkit convert, once per test
/// process, into a temporary folder; and the transformers oracles in expected/generate and expected/perplexity.
final class FixtureModels: @unchecked Sendable {
    static let shared = FixtureModels()

    /// Fixture checkpoints: name → (model folder, adapters merged by convert).
    static let sources: [String: (folder: String, adapters: [String])] = [
        "tiny-a": ("models/tiny-a/bin-f32", []),
        "tiny-b": ("models/tiny-b/bin-f32-lmhead", []),
        "alpaca-b-merged": ("models/tiny-b/bin-f32-lmhead", ["adapters/alpaca-b"]),
    ]

    private let lock = NSLock()
    private var files: [String: String] = [:]
    private var models: [String: BloomModel] = [:]
    private var scratch: TempDir?

    /// The GGUF file of fixture `name` with its 2-D weights in `type` (convert's default embedding type).
    func path(_ name: String, _ type: GGMLType) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let key = "\(name)-\(type.name)"
        if let p = files[key] { return p }
        guard let source = Self.sources[name] else { throw XCTSkip("no fixture model \(name)") }
        let scratch = try self.scratch ?? TempDir("runtime-tests")
        self.scratch = scratch
        let out = scratch.file(key + ".gguf")
        var options = ConvertOptions()
        options.type = try FileType.named(type.name)
        let input = try ConvertInput(folder: Fixtures.path(source.folder), adapters: source.adapters.map(Fixtures.path))
        _ = try Converter.convert(input, to: out, options: options)
        files[key] = out
        return out
    }

    func model(_ name: String, _ type: GGMLType) throws -> BloomModel {
        let p = try path(name, type)
        lock.lock()
        defer { lock.unlock() }
        if let m = models[p] { return m }
        let m = try BloomModel(path: p)
        models[p] = m
        return m
    }
}

/// One case of expected/generate/NAME.json.
struct GenerationCase {
    let prompt: String
    let promptIDs: [TokenID]
    let greedy: [TokenID]
    let beam4: [TokenID]
    let lastLogits: [Float]?

    static func load(_ model: String) throws -> [GenerationCase] {
        let root = try Fixtures.json("expected/generate/\(model).json")
        return try XCTUnwrap(root["cases"]?.array).map { c in
            func ids(_ key: String) throws -> [TokenID] { try XCTUnwrap(c[key]?.array).map { TokenID(try XCTUnwrap($0.int)) } }
            return GenerationCase(prompt: try XCTUnwrap(c["prompt"]?.string), promptIDs: try ids("prompt_ids"),
                                  greedy: try ids("greedy_ids"), beam4: try ids("beam4_ids"),
                                  lastLogits: c["last_logits"]?.array?.compactMap { $0.double.map(Float.init) })
        }
    }
}

extension GenerationResult {
    /// The ids as the oracle lists them: a final 2 (EOS) when generation stopped on it.
    var idsWithEOS: [TokenID] { tokens + (stopReason == .eos ? [2] : []) }
}
