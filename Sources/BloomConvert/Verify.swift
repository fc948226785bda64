import BloomArch
import BloomCore
import BloomGGUF
import Foundation

extension BloomError.Code {
    /// A tensor's bytes do not hash to the checksum stored for it.
    public static let verifyChecksum: Self = "verify-checksum"
    /// The file has no (or malformed) per-tensor checksums.
    public static let verifyNoChecksums: Self = "verify-no-checksums"
    /// The file's size is not where its data section ends.
    public static let verifySize: Self = "verify-size"
    /// The tensors or keys do not make a BLOOM model llama.cpp would load.
    public static let verifyProfile: Self = "verify-profile"
}

/// What `verify` checked.
public struct VerifyReport: Sendable {
    public var path: String
    public var tensorCount: Int
    public var checkedChecksums: Int
    public var bytesHashed: Int
    public var isBloom: Bool
    /// The file is a LoRA adapter (general.type "adapter") and llama.cpp's adapter layout holds.
    public var isAdapter = false
}

/// `bloomkit verify`: structure and bounds (the reader's checks), the file's exact size, the BLOOM profile
/// (keys with llama.cpp's types, every tensor present with its ne, 1-D tensors F32) or, for a LoRA adapter file,
/// llama.cpp's adapter layout (`BloomLoRAProfile.read`), and each tensor's XXH64.
public enum GGUFVerifier {
    /// - Parameters:
    ///   - requireChecksums: a file without `bloomkit.tensor_checksums` fails (else it is only checked for structure).
    ///   - threads: tensors hashed at once.
    /// - Throws: the first problem found, as one `BloomError` naming the tensor or key and the offset.
    public static func verify(path: String, requireChecksums: Bool = true,
                              threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount))
        throws -> VerifyReport {
        let set = try GGUFSplitSet(path: path)
        for part in set.parts { try checkSize(part) }
        let isBloom = (try? set.metadata.string(BloomGGUFKeys.architecture)) == "bloom"
        let isAdapter = (try? set.metadata.string(BloomGGUFKeys.type)) == BloomLoRAProfile.generalType
        if isAdapter {
            do {
                for part in set.parts { _ = try BloomLoRAProfile.read(part, model: nil) }
            } catch let error as BloomError {
                throw BloomError(.verifyProfile, error.message, path: path, location: error.location, cause: error)
            }
        } else if isBloom {
            try checkProfile(set)
        }
        var report = VerifyReport(path: path, tensorCount: set.tensors.count, checkedChecksums: 0, bytesHashed: 0,
                                  isBloom: isBloom, isAdapter: isAdapter)
        for part in set.parts {
            let (checked, bytes) = try checkChecksums(part, requireChecksums: requireChecksums, threads: threads)
            report.checkedChecksums += checked
            report.bytesHashed += bytes
        }
        return report
    }

    /// Every tensor is padded, the last one included: the file ends exactly at the padded end of the data.
    static func checkSize(_ file: GGUFFile) throws {
        let path = file.path
        let expectedSize = try file.tensors.last.map {
            try GGUFLimits.pad($0.fileOffset + $0.byteCount, file.alignment)
        } ?? file.headerByteCount
        guard file.file.count == expectedSize else {
            let what = file.file.count < expectedSize
                ? "truncated" : "has \(file.file.count - expectedSize) extra bytes"
            throw BloomError(.verifySize, "file is \(file.file.count) bytes, \(what): its data ends at \(expectedSize)",
                             path: path)
        }
    }

    /// Each tensor of one file (a split set's part holds the checksums of its own tensors) against its XXH64.
    /// - Returns: checksums checked and bytes hashed.
    static func checkChecksums(_ file: GGUFFile, requireChecksums: Bool, threads: Int) throws -> (Int, Int) {
        let path = file.path
        guard file.metadata.contains(BloomGGUFKeys.tensorChecksums) || file.tensors.isEmpty else {
            if requireChecksums {
                throw BloomError(.verifyNoChecksums,
                                 "no \(BloomGGUFKeys.tensorChecksums) key: tensor bytes cannot be checked (files from "
                                 + "other tools have none: --allow-missing-checksums checks the rest)", path: path)
            }
            return (0, 0)
        }
        let stored: [UInt64]
        do {
            stored = file.tensors.isEmpty ? [] : try file.metadata.uint64Array(BloomGGUFKeys.tensorChecksums)
        } catch let error as BloomError {
            throw BloomError(.verifyNoChecksums, error.message, path: path)
        }
        if let algorithm = file.metadata[BloomGGUFKeys.checksumAlgorithm], algorithm != .string(BloomGGUFKeys.xxh64) {
            throw BloomError(.verifyNoChecksums, "checksum algorithm is \(algorithm), expected \"xxh64\"", path: path)
        }
        guard stored.count == file.tensors.count else {
            throw BloomError(.verifyNoChecksums, "\(stored.count) checksums for \(file.tensors.count) tensors",
                             path: path)
        }
        let hashes = Hashes(count: file.tensors.count)
        let tensors = file.tensors
        DispatchQueue.concurrentPerform(iterations: min(threads, max(tensors.count, 1))) { worker in
            var k = worker
            while k < tensors.count {
                hashes.values[k] = XXHash64.hash(tensors[k].bytes)
                k += threads
            }
        }
        for (k, t) in tensors.enumerated() where hashes.values[k] != stored[k] {
            throw BloomError(.verifyChecksum,
                             "bytes \(t.fileOffset)..<\(t.fileOffset + t.byteCount) do not match the tensor's checksum:"
                             + " stored \(hex(stored[k])), computed \(hex(hashes.values[k]))",
                             path: path, location: "tensor '\(t.name)'")
        }
        return (tensors.count, tensors.reduce(0) { $0 + $1.byteCount })
    }

    /// One slot per tensor, each written by one worker.
    private final class Hashes: @unchecked Sendable {
        let values: UnsafeMutableBufferPointer<UInt64>
        init(count: Int) { values = .allocate(capacity: count); values.initialize(repeating: 0) }
        deinit { values.deallocate() }
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// llama.cpp's BLOOM loader, as a check: required keys with their types, tokenizer arrays, the exact tensor set
    /// and shapes, 1-D tensors F32, quantized tensors only where allowed.
    static func checkProfile(_ file: GGUFSplitSet) throws {
        let m = file.metadata
        let h: BloomHyperParameters
        do {
            h = try BloomHyperParameters(metadata: m)
            _ = try m.uint32(BloomGGUFKeys.fileType)
            guard try m.string(BloomGGUFKeys.tokenizerModel) == BloomGGUFKeys.gpt2 else {
                throw BloomError(.verifyProfile, "tokenizer.ggml.model is not \"gpt2\"")
            }
            let types = try m.int32Array(BloomGGUFKeys.tokenType)
            guard types.count == h.vocabSize else {
                throw BloomError(.verifyProfile,
                                 "tokenizer.ggml.token_type has \(types.count) entries for \(h.vocabSize) tokens")
            }
            _ = try m.stringArray(BloomGGUFKeys.merges)
            for key in [BloomGGUFKeys.bosTokenID, BloomGGUFKeys.eosTokenID, BloomGGUFKeys.unknownTokenID,
                        BloomGGUFKeys.paddingTokenID] {
                if let id = try m.optional(key, GGUFMetadata.uint32), Int(id) >= h.vocabSize {
                    throw BloomError(.verifyProfile, "\(key) is \(id), past the \(h.vocabSize) tokens")
                }
            }
        } catch let error as BloomError {
            throw BloomError(.verifyProfile, error.message, path: file.path, cause: error)
        }
        let separate = file.tensor(named: BloomTensorNames.output) != nil
        let expected = BloomTensorNames.expected(h, separateOutput: separate)
        guard expected.count == file.tensors.count else {
            let extra = Set(file.tensors.map(\.name)).subtracting(expected.map(\.name)).sorted()
            throw BloomError(.verifyProfile, "\(file.tensors.count) tensors where a BLOOM of \(h.blockCount) layers"
                             + " has \(expected.count)"
                             + (extra.isEmpty ? "" : "; not BLOOM tensors: \(extra.prefix(5).joined(separator: ", "))"),
                             path: file.path)
        }
        for (name, ne) in expected {
            guard let t = file.tensor(named: name) else {
                throw BloomError(.verifyProfile, "tensor '\(name)' is missing", path: file.path)
            }
            guard t.ne == ne else {
                throw BloomError(.verifyProfile, "tensor '\(name)' has ne \(t.ne), expected \(ne)", path: file.path,
                                 location: "tensor '\(name)'")
            }
            if BloomTensorNames.mustBeF32(name, ne: ne), t.type != .F32 {
                throw BloomError(.verifyProfile, "tensor '\(name)' is \(t.type.name); norms and biases must be f32",
                                 path: file.path)
            }
        }
    }
}
