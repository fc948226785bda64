import BloomArch
import BloomCore
import BloomGGUF
import BloomRuntime
import BloomTokenizer
import Foundation
import TestSupport
import XCTest

/// A GGUF file is a download too: the runtime's loader and the GGUF tokenizer must refuse lying metadata without
/// trapping or allocating by its numbers. Inputs: Fuzz/corpus/fuzz-gguf/tiny-bloom.gguf (a complete 1-block BLOOM made
/// by Fuzz/make_corpus.py with gguf-py) and the fuzzer's crash inputs in Fuzz/regressions/fuzz-gguf/.
final class HostileModelTests: XCTestCase {
    static func fuzzFile(_ relative: String) throws -> String { try Fixtures.repositoryPath("Fuzz/" + relative) }

    /// Found by fuzz-gguf: block_count 2^24 in a 6 KB file made the loader build a tensor list of 200 million names
    /// (out of memory) before looking for a single block tensor.
    func testABlockCountPastTheLimitIsRefusedBeforeTheTensorListIsBuilt() throws {
        let path = try Self.fuzzFile("regressions/fuzz-gguf/block-count-2p24.gguf")
        XCTAssertThrowsError(try BloomModel(path: path)) { error in
            let e = error as? BloomError
            XCTAssertEqual(e?.code, .invalidArgument, "\(error)")
            XCTAssertEqual(e?.path, path)
            XCTAssertTrue(e?.message.contains("bloom.block_count 16777216") ?? false, "\(error)")
        }
    }

    /// A head count that does not divide the embedding length has no head dimension: refused at load, naming the
    /// file, the key, its value and the embedding length that bounds it.
    func testAHeadCountThatDoesNotDivideTheEmbeddingIsRefused() throws {
        let file = try GGUFFile(path: try Self.fuzzFile("corpus/fuzz-gguf/tiny-bloom.gguf"))
        let width = try BloomHyperParameters(metadata: file.metadata).embeddingLength
        let folder = try TempDir("hostile-heads")
        for heads in [width + 1, 2 * width, (2...width).first { width % $0 != 0 } ?? 3] {
            var metadata = file.metadata
            metadata.remove(BloomGGUFKeys.tensorChecksums)
            metadata.set(BloomGGUFKeys.headCount, .uint32(UInt32(heads)))
            metadata.set(BloomGGUFKeys.headCountKV, .uint32(UInt32(heads)))
            let path = folder.file("heads-\(heads).gguf")
            let writer = try GGUFWriter(path: path, metadata: metadata, tensors: file.tensors.map(\.info))
            for t in file.tensors { try writer.write(tensorNamed: t.name, t.bytes) }
            try writer.commit()
            XCTAssertThrowsError(try BloomModel(path: path)) { error in
                let e = error as? BloomError
                XCTAssertEqual(e?.code, .invalidArgument, "\(error)")
                XCTAssertEqual(e?.path, path)
                XCTAssertEqual(e?.location, "key 'bloom.attention.head_count'")
                XCTAssertTrue(e?.message.contains("bloom.attention.head_count \(heads) does not divide "
                                                  + "bloom.embedding_length \(width)") ?? false, "\(error)")
            }
        }
    }

    /// The seeds of fuzz-lora-gguf and fuzz-split (Fuzz/make_format_corpus.sh) are valid inputs, so the fuzzers start
    /// from files that reach the whole loader: each adapter applies to tiny-bloom and evaluates, the split set loads.
    func testTheAdapterAndSplitSeedsLoad() throws {
        let base = try Self.fuzzFile("corpus/fuzz-gguf/tiny-bloom.gguf")
        for type in ["f32", "f16", "bf16"] {
            let adapter = try Self.fuzzFile("corpus/fuzz-lora-gguf/tiny-lora-\(type).gguf")
            let model = try BloomModel(path: base, adapters: [LoRARequest(path: adapter)])
            let context = try InferenceContext(model: model, pool: try ThreadPool(threads: 1), capacity: 4)
            XCTAssertNoThrow(try context.evaluate([1, 2]), type)
        }
        let folder = try TempDir("split-seed")
        for (part, name) in [("corpus/fuzz-split/", "tiny-bloom-00001-of-00002.gguf"),
                             ("parts/fuzz-split/", "tiny-bloom-00002-of-00002.gguf")] {
            try FileManager.default.copyItem(atPath: try Self.fuzzFile(part + name), toPath: folder.file(name))
        }
        let set = try BloomModel(path: folder.file("tiny-bloom-00001-of-00002.gguf"))
        XCTAssertEqual(set.bytesPerToken, try BloomModel(path: base).bytesPerToken)
    }

    func testTheTinyModelLoadsAndHeaderCorruptionsAreRefusedOrHarmless() throws {
        let path = try Self.fuzzFile("corpus/fuzz-gguf/tiny-bloom.gguf")
        let model = try BloomModel(path: path)
        XCTAssertEqual(model.hyperParameters.blockCount, 1)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try GGUFFile(path: path).dataOffset

        let folder = try TempDir("hostile-model")
        let copyPath = folder.file("m.gguf")
        var loaded = 0
        // every 5th byte: debug builds load slowly; fuzz-gguf does the rest
        for i in stride(from: 0, to: header, by: 5) {
            var copy = bytes
            copy[i] ^= 0xFF
            try Data(copy).write(to: URL(fileURLWithPath: copyPath))
            do {
                let file = try GGUFFile(path: copyPath)
                if let tokenizer = try? BloomTokenizer(gguf: file) { _ = tokenizer.decode(tokenizer.encode("Hello")) }
                _ = try BloomModel(path: copyPath)
                loaded += 1
            } catch let error as BloomError {
                XCTAssertFalse(error.description.contains(where: \.isNewline), "byte \(i): \(error)")
                XCTAssertNotNil(error.path, "byte \(i): \(error)")
            }
        }
        XCTAssertLessThan(loaded, header / 10, "most corruptions of the header must be refused")
    }
}
