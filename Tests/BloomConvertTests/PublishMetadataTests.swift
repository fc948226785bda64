import BloomArch
import BloomCheckpoint
import BloomCore
@testable import BloomConvert
import BloomGGUF
import Foundation
import TestSupport
import XCTest

/// The general.* keys bloomkit writes equal those llama.cpp's converter writes (gguf-py's Metadata, through
/// Tests/Fixtures/publish/generate.py) for the same folders; model id parsing and size labels equal gguf-py's; no
/// output holds any part of the paths it was made from.
final class PublishMetadataTests: XCTestCase {
    var dir: TempDir!
    var tmp: URL { dir.url }

    override func setUpWithError() throws { dir = try TempDir("publish") }
    override func tearDown() { dir = nil }

    func expected() throws -> [String: Any] {
        let url = try Fixtures.url("publish/expected.json")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// The merged fixture model copied into a folder named `name`, with `card` (a fixture path) as its README.md and
    /// `generationConfig` (a fixture path) as its generation_config.json.
    func folder(_ name: String, card: String?, generationConfig: String? = nil, merged: String) throws -> String {
        let path = tmp.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: merged, toPath: path)
        if let card {
            try FileManager.default.copyItem(atPath: try Fixtures.path(card),
                                             toPath: path + "/README.md")
        }
        if let generationConfig {
            try FileManager.default.removeItem(atPath: path + "/generation_config.json")
            try FileManager.default.copyItem(atPath: try Fixtures.path(generationConfig),
                                             toPath: path + "/generation_config.json")
        }
        return path
    }

    /// The general.* keys gguf-py writes (no architecture, type, file type): value and GGUF type name.
    func generalKeys(_ path: String) throws -> [String: (value: Any, type: String)] {
        let file = try GGUFFile(path: path)
        var keys: [String: (value: Any, type: String)] = [:]
        let skipped: Set = ["general.architecture", "general.type", "general.file_type", "general.quantization_version"]
        for (key, value) in file.metadata.entries where key.hasPrefix("general.") && !skipped.contains(key) {
            switch value {
            case .string(let s): keys[key] = (s, "STRING")
            case .uint32(let n): keys[key] = (Int(n), "UINT32")
            case .int32(let n): keys[key] = (Int(n), "INT32")
            case .float32(let x): keys[key] = (x, "FLOAT32")
            case .array(.string(let list)): keys[key] = (list, "ARRAY")
            default: XCTFail("\(key) has an unexpected type")
            }
        }
        return keys
    }

    func testGeneralKeysEqualLlamaCppConverters() throws {
        let cases = try XCTUnwrap(try expected()["cases"] as? [String: [String: Any]])
        let merged = tmp.appendingPathComponent("merged").path
        _ = try MergePipeline.run(base: try Fixtures.path("models/tiny-b/st-f16"),
                                  adapters: [try Fixtures.path("adapters/alpaca-b")], output: merged,
                                  options: MergeOptions(quiet: true))
        typealias Layout = (folder: String, card: String?, generationConfig: String?, override: String?, name: String?)
        let sampling = "publish/sampling-generation_config.json"
        let layouts: [String: Layout] = [
            "card": ("Alpacoom-7B", "publish/alpacoom-card.md", nil, nil, nil),
            "peft-card": ("bloom-560m-alpaca-v1.1-chat", "adapters/alpaca-b/README.md", nil, nil, nil),
            "no-card": ("st-f16", nil, nil, nil, nil),
            "override": ("alpacoom-override", "publish/alpacoom-card.md", nil, "publish/override.json",
                         "Alpacoom Override"),
            "sampling": ("bloom-sampling", nil, sampling, nil, nil),
            "sampling-override": ("bloom-sampling-2", nil, sampling, "publish/sampling-override.json", nil),
            "both-penalties": ("bloom-penalties", nil, "publish/sampling-both-penalties.json", nil, nil),
        ]
        XCTAssertEqual(Set(cases.keys), Set(layouts.keys))
        for (name, layout) in layouts {
            let path = try folder(layout.folder, card: layout.card, generationConfig: layout.generationConfig,
                                  merged: merged)
            let input = try ConvertInput(folder: path, metadataFile: try layout.override.map(Fixtures.path),
                                         name: layout.name)
            let output = tmp.appendingPathComponent("\(name).gguf").path
            var options = ConvertOptions()
            options.type = .F16
            let report = try Converter.convert(input, to: output, options: options)
            let want = try XCTUnwrap(cases[name]?["keys"] as? [String: Any])
            let types = try XCTUnwrap(cases[name]?["types"] as? [String: String])
            XCTAssertEqual(report.elementCount, cases[name]?["parameters"] as? Int, name)
            XCTAssertEqual(report.warnings, [], name)
            let got = try generalKeys(output)
            XCTAssertEqual(Set(got.keys), Set(want.keys), name)
            for (key, value) in want {
                XCTAssertEqual(got[key]?.type, types[key], "\(name): \(key)")
                if let list = value as? [String] {
                    XCTAssertEqual(got[key]?.value as? [String], list, "\(name): \(key)")
                } else if let text = value as? String {
                    XCTAssertEqual(got[key]?.value as? String, text, "\(name): \(key)")
                } else if types[key] == "FLOAT32" {
                    // gguf-py reads a FLOAT32 back as the double it widens to; exact in FLOAT32.
                    let number = try XCTUnwrap(value as? NSNumber, "\(name): \(key)")
                    XCTAssertEqual(got[key]?.value as? Float, Float(number.doubleValue), "\(name): \(key)")
                } else {
                    XCTAssertEqual(got[key]?.value as? Int, try XCTUnwrap(value as? Int), "\(name): \(key)")
                }
            }
            try assertNoPath(of: tmp.path, in: output)
        }
    }

    func testModelIDComponentsEqualGGUFPy() throws {
        let ids = try XCTUnwrap(try expected()["ids"] as? [[String: Any]])
        XCTAssertGreaterThan(ids.count, 10)
        for entry in ids {
            let id = try XCTUnwrap(entry["id"] as? String)
            let c = ModelIDComponents(id, totalParameters: try XCTUnwrap(entry["parameters"] as? Int))
            XCTAssertEqual(c.fullName, entry["full_name"] as? String, id)
            XCTAssertEqual(c.organization, entry["organization"] as? String, id)
            XCTAssertEqual(c.basename, entry["basename"] as? String, id)
            XCTAssertEqual(c.finetune, entry["finetune"] as? String, id)
            XCTAssertEqual(c.version, entry["version"] as? String, id)
            XCTAssertEqual(c.sizeLabel, entry["size_label"] as? String, id)
            XCTAssertEqual(c.fullName.map(PublishMetadata.titled), entry["title"] as? String, id)
        }
        let labels = try XCTUnwrap(try expected()["size_labels"] as? [String: String])
        for (count, label) in labels {
            XCTAssertEqual(PublishMetadata.sizeLabel(parameters: try XCTUnwrap(Int(count))), label, count)
        }
    }

    /// A Hub-cache snapshot is named by its repository id; neither the hash nor any local path reaches the file.
    func testHubCacheSnapshotIsNamedByRepositoryID() throws {
        let hash = "0123456789abcdef0123456789abcdef01234567"
        let snapshot = tmp.appendingPathComponent("hub/models--bigscience--bloom-7b1/snapshots/\(hash)").path
        try FileManager.default.createDirectory(atPath: (snapshot as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try Fixtures.path("models/tiny-b/st-f16"),
                                         toPath: snapshot)
        XCTAssertEqual(HubCache.publicName(of: snapshot), "bigscience/bloom-7b1")
        XCTAssertEqual(HubCache.publicName(of: snapshot + "/"), "bigscience/bloom-7b1")
        XCTAssertEqual(HubCache.publicName(of: "/somewhere/my-model/"), "my-model")
        let output = tmp.appendingPathComponent("hub.gguf").path
        _ = try Converter.convert(try ConvertInput(folder: snapshot), to: output, options: ConvertOptions())
        let m = try GGUFFile(path: output).metadata
        XCTAssertEqual(try m.string("general.name"), "Bloom 7b1")
        XCTAssertEqual(try m.string("general.organization"), "Bigscience")
        XCTAssertEqual(try m.string(BloomGGUFKeys.source), "bigscience/bloom-7b1")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: output))
        XCTAssertNil(bytes.range(of: Data(hash.utf8)))
        try assertNoPath(of: tmp.path, in: output)
    }

    /// With --lora the file is the adapter's fine-tune: named from the adapter's folder (and card); bloomkit.source
    /// and bloomkit.adapters hold names, not paths.
    func testConvertWithAdapterNamesTheFineTune() throws {
        let base = tmp.appendingPathComponent("bloom-base").path
        let adapter = tmp.appendingPathComponent("my-alpaca-lora").path
        try FileManager.default.copyItem(atPath: try Fixtures.path("models/tiny-b/st-f16"), toPath: base)
        try FileManager.default.copyItem(atPath: try Fixtures.path("adapters/alpaca-b"), toPath: adapter)
        try FileManager.default.removeItem(atPath: adapter + "/README.md")
        let input = try ConvertInput(folder: base, adapters: [adapter])
        let output = tmp.appendingPathComponent("lora.gguf").path
        _ = try Converter.convert(input, to: output, options: ConvertOptions())
        let m = try GGUFFile(path: output).metadata
        XCTAssertEqual(try m.string(BloomGGUFKeys.source), "bloom-base")
        let adapters = try m.stringArray(BloomGGUFKeys.adapters)
        XCTAssertEqual(adapters.map { $0.split(separator: " ").first }, ["my-alpaca-lora"])
        XCTAssertEqual(try m.string("general.name"), "My Alpaca Lora")
        try assertNoPath(of: tmp.path, in: output)
    }

    /// A sampler value gguf-py could not pack as its key's type is left out with a warning that names it; an
    /// unreadable generation_config.json holds no settings and does not stop the conversion.
    func testSamplingValuesThatDoNotFitTheirTypeAreLeftOut() throws {
        var sampling = SamplingMetadata()
        sampling.apply(generationConfig: try JSONParser().parse(
            #"{"top_k": 0.5, "temperature": 1e40, "top_p": "high", "sequence": "", "min_p": 0.1, "mirostat": 3e9}"#))
        XCTAssertEqual(sampling.metadataEntries.map(\.0), [BloomGGUFKeys.samplingMinP])
        XCTAssertEqual(sampling.skipped.count, 4)
        for field in ["top_k 0.5", "temperature 1e40", "top_p \"high\"", "mirostat 3e9"] {
            XCTAssertTrue(sampling.skipped.contains { $0.contains("generation_config.json's \(field)") },
                          "\(field): \(sampling.skipped)")
        }

        let model = tmp.appendingPathComponent("broken-generation-config").path
        try FileManager.default.copyItem(atPath: try Fixtures.path("models/tiny-b/st-f16"), toPath: model)
        try Data("[1, 2".utf8).write(to: URL(fileURLWithPath: model + "/generation_config.json"))
        let input = try ConvertInput(folder: model)
        XCTAssertTrue(input.warnings.contains { $0.contains("generation_config.json was not read") },
                      "\(input.warnings)")
        let output = tmp.appendingPathComponent("broken.gguf").path
        _ = try Converter.convert(input, to: output, options: ConvertOptions())
        XCTAssertFalse(try generalKeys(output).keys.contains { $0.hasPrefix("general.sampling.") })
    }

    /// Neither the whole temporary path nor any of its distinctive components is in the file.
    func assertNoPath(of folder: String, in file: String, line: UInt = #line) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        XCTAssertNil(bytes.range(of: Data(folder.utf8)), folder, line: line)
        for part in folder.split(separator: "/") where part.count >= 8 {
            XCTAssertNil(bytes.range(of: Data(part.utf8)), "'\(part)' of \(folder)", line: line)
        }
    }

    func testModelCardHeaderSubset() {
        let card = ModelCard.parseHeader("""
        ---
        license: apache-2.0 # a comment
        language: [en, 'fr']
        tags:
        \t- a
          - "b: c"
          -  'it''s'
        base_model:
        - name: Bloom
          organization: Bigscience
        nested:
          key: value
        empty:
        ---
        not: header
        """)
        XCTAssertEqual(card["license"], .string("apache-2.0"))
        XCTAssertEqual(card["language"], .array([.string("en"), .string("fr")]))
        XCTAssertEqual(card["tags"], .array([.string("a"), .string("b: c"), .string("it's")]))
        XCTAssertEqual(card["base_model"], .array([.object([("name", .string("Bloom")),
                                                             ("organization", .string("Bigscience"))])]))
        XCTAssertNil(card["nested"])
        XCTAssertNil(card["empty"])
        XCTAssertNil(card["not"])
        XCTAssertEqual(ModelCard.parseHeader("# no header\n---\nlicense: mit\n---"), .object([]))
        XCTAssertEqual(ModelCard.parseHeader(""), .object([]))
        XCTAssertEqual(ModelCard.parseHeader("---\n"), .object([]))
        // Hostile: unterminated header, a huge line, many items; bounded and never a trap.
        let many = "---\nk:\n" + String(repeating: "- x\n", count: 100_000)
        XCTAssertEqual(ModelCard.parseHeader(many)["k"]?.array?.count, ModelCard.maxHeaderLines - 1)
        let long = "---\nname: " + String(repeating: "[", count: 100_000) + "\n"
        XCTAssertNil(ModelCard.parseHeader(long)["name"])
        XCTAssertEqual(ModelCard.parseHeader("---\n: x\n\"unterminated: y\n- z\n")["x"], nil)
    }
}
