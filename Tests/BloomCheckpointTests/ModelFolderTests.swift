import BloomCore
import Foundation
import TestSupport
import XCTest
@testable import BloomCheckpoint

final class ModelFolderTests: XCTestCase {
    /// The names and shapes BLOOM's modeling code creates, from the folder's own config.json.
    private func expectedTensors(_ config: JSONValue) throws -> [(String, [Int])] {
        let h = try XCTUnwrap(config["hidden_size"]?.int), v = try XCTUnwrap(config["vocab_size"]?.int)
        let layers = try XCTUnwrap(config["n_layer"]?.int)
        var out: [(String, [Int])] = [("word_embeddings.weight", [v, h]), ("word_embeddings_layernorm.weight", [h]),
                                      ("word_embeddings_layernorm.bias", [h]), ("ln_f.weight", [h]), ("ln_f.bias", [h])]
        for i in 0..<layers {
            for (name, shape) in [("input_layernorm.weight", [h]), ("input_layernorm.bias", [h]),
                                  ("self_attention.query_key_value.weight", [3 * h, h]),
                                  ("self_attention.query_key_value.bias", [3 * h]),
                                  ("self_attention.dense.weight", [h, h]), ("self_attention.dense.bias", [h]),
                                  ("post_attention_layernorm.weight", [h]), ("post_attention_layernorm.bias", [h]),
                                  ("mlp.dense_h_to_4h.weight", [4 * h, h]), ("mlp.dense_h_to_4h.bias", [4 * h]),
                                  ("mlp.dense_4h_to_h.weight", [h, 4 * h]), ("mlp.dense_4h_to_h.bias", [h])] {
                out.append(("h.\(i).\(name)", shape))
            }
        }
        return out
    }

    func testEveryFixtureLayoutResolvesCanonicalNames() throws {
        let layouts: [(String, CheckpointFormat, prefixed: Bool, lmHead: Bool)] = [
            ("models/tiny-a/st-bf16-sharded", .safetensors, true, false),
            ("models/tiny-a/bin-f32", .pytorch, false, false),
            ("models/tiny-b/bin-f32-lmhead", .pytorch, true, true),
            ("models/tiny-b/st-f16", .safetensors, true, false),
        ]
        for (relative, format, prefixed, lmHead) in layouts {
            let folder = try ModelFolder(path: try Fixtures.path(relative))
            XCTAssertEqual(folder.checkpoint.format, format, relative)
            XCTAssertNotNil(folder.tokenizerPath, relative)
            XCTAssertNotNil(folder.tokenizerConfigPath, relative)
            let expected = try expectedTensors(folder.config)
            XCTAssertEqual(folder.tensors.count, expected.count + (lmHead ? 1 : 0), relative)
            for (name, shape) in expected {
                let view = try folder.requireTensor(name, shape: shape)
                XCTAssertEqual(view.name, (prefixed ? "transformer." : "") + name)
                XCTAssertEqual(folder.tensor(named: "transformer." + name)?.name, view.name)
            }
            let head = try folder.requireTensor("lm_head.weight")
            let embeddings = try folder.requireTensor("word_embeddings.weight")
            XCTAssertEqual(head.name, lmHead ? "lm_head.weight" : embeddings.name, relative)
            XCTAssertEqual(Array(head.bytes), Array(embeddings.bytes), relative)
            XCTAssertEqual(Set(folder.canonicalNames).count, folder.tensors.count)
        }
    }

    /// tiny-b's lm_head shares word_embeddings' storage in the .bin: one record, one offset.
    func testSharedStorageGivesTheSameBytesInPlace() throws {
        let folder = try ModelFolder(path: try Fixtures.path("models/tiny-b/bin-f32-lmhead"))
        let head = try folder.requireTensor("lm_head.weight"),
            embeddings = try folder.requireTensor("word_embeddings.weight")
        XCTAssertEqual(head.fileOffset, embeddings.fileOffset)
        XCTAssertEqual(head.file, embeddings.file)
        XCTAssertTrue(head.storage === embeddings.storage)
    }

    func testMissingPiecesAndUntiedHeads() throws {
        let source = try Fixtures.path("models/tiny-a/bin-f32")
        let dir = try TempDir()
        assertBloomError(.missingFile, "no config.json") { try ModelFolder(path: dir.path) }
        try dir.write("config.json", #"{"hidden_size": 64, "tie_word_embeddings": false}"#)
        assertBloomError(.missingFile, "no weights") { try ModelFolder(path: dir.path) }
        try FileManager.default.copyItem(atPath: source + "/pytorch_model.bin", toPath: dir.path + "/pytorch_model.bin")
        let folder = try ModelFolder(path: dir.path)
        XCTAssertNil(folder.tensor(named: "lm_head.weight"), "an untied model without lm_head has no head")
        assertBloomError(.missingTensor) { try folder.requireTensor("lm_head.weight") }
        assertBloomError(.tensorShape) { try folder.requireTensor("ln_f.weight", shape: [65]) }
        assertBloomError(.missingFile, "neither a path nor a hub id") { try ModelFolder(path: dir.path + "/nope") }
        try FileManager.default.removeItem(atPath: dir.path + "/pytorch_model.bin")
        try dir.write("model.safetensors", safetensorsFile([("transformer.ln_f.weight", [4]), ("ln_f.weight", [4])]))
        assertBloomError(.duplicateTensor, "one tensor with and without the prefix") { try ModelFolder(path: dir.path) }
    }

    func testHubIdsAndCacheFoldersResolveOffline() throws {
        let dir = try TempDir()
        let repo = dir.path + "/hub/models--bigscience--bloom-560m"
        let rev = "0123456789abcdef0123456789abcdef01234567"
        try FileManager.default.createDirectory(atPath: repo + "/snapshots/" + rev, withIntermediateDirectories: true)
        try dir.write("hub/models--bigscience--bloom-560m/refs/main", rev)
        let env = ["HF_HOME": dir.path, "HOME": "/nonexistent"]
        XCTAssertEqual(try HubCache.resolve("bigscience/bloom-560m", environment: env), repo + "/snapshots/" + rev)
        XCTAssertEqual(try HubCache.resolve(repo, environment: env), repo + "/snapshots/" + rev)
        XCTAssertEqual(try HubCache.resolve("bigscience/bloom-560m", environment: ["HF_HUB_CACHE": dir.path + "/hub"]),
                       repo + "/snapshots/" + rev)
        assertBloomError(.hubCache, "not downloaded") { try HubCache.resolve("bigscience/bloom-7b1", environment: env) }
        try dir.write("hub/models--bigscience--bloom-560m/refs/main", "ffff")
        assertBloomError(.hubCache, "refs/main points nowhere") { try HubCache.resolve("bigscience/bloom-560m",
                                                                                       environment: env) }
        try FileManager.default.removeItem(atPath: repo + "/refs/main")
        XCTAssertEqual(try HubCache.resolve("bigscience/bloom-560m", environment: env), repo + "/snapshots/" + rev,
                       "the only snapshot, without refs/main")
        assertBloomError(.missingFile, "parent paths are not hub ids") {
            try HubCache.resolve("../bloomkit-absent-\(UUID().uuidString)", environment: env)
        }
    }
}
