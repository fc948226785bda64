import BloomCheckpoint
import BloomCore
import BloomLoRA
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The dtype a merged model is stored in.
public enum MergeDType: String, Sendable, CaseIterable {
    /// Each tensor keeps the base's dtype.
    case auto, f32, f16, bf16

    var dtype: DType? {
        switch self {
        case .auto: return nil
        case .f32: return .F32
        case .f16: return .F16
        case .bf16: return .BF16
        }
    }

    /// PyTorch's name, as config.json spells `dtype` / `torch_dtype`.
    static func torchName(_ dtype: DType) -> String? {
        switch dtype {
        case .F32: return "float32"
        case .F16: return "float16"
        case .BF16: return "bfloat16"
        default: return nil
        }
    }
}

/// Writes a merged model as a Hugging Face folder that transformers loads as it is.
enum MergeWriter {
    /// The merged model's config.json: the base's, with `dtype` (and `torch_dtype` where present) set to the stored
    /// dtype when one was asked for, `tie_word_embeddings` false when the merge gave the model its own output head, and
    /// `architectures` ["BloomForCausalLM"] when the base has none (llama.cpp's converter picks its model class by it).
    static func config(_ base: JSONValue, dtype: DType?, untiedEmbeddings: Bool) throws -> JSONValue {
        guard var pairs = base.object else { throw BloomError(.invalidJSON, "config.json is not a JSON object") }
        func set(_ key: String, _ value: JSONValue, addIfMissing: Bool) {
            if let k = pairs.firstIndex(where: { $0.0 == key }) {
                pairs[k].1 = value
            } else if addIfMissing {
                pairs.append((key, value))
            }
        }
        if base["architectures"]?.array?.isEmpty ?? true {
            set("architectures", .array([.string("BloomForCausalLM")]), addIfMissing: true)
        }
        if let dtype, let name = MergeDType.torchName(dtype) {
            let hasEither = pairs.contains { $0.0 == "dtype" || $0.0 == "torch_dtype" }
            set("dtype", .string(name), addIfMissing: false)
            // `torch_dtype` is what every transformers version reads (5.x as a deprecated alias of `dtype`).
            set("torch_dtype", .string(name), addIfMissing: !hasEither)
        }
        if untiedEmbeddings { set("tie_word_embeddings", .bool(false), addIfMissing: true) }
        return .object(pairs)
    }

    /// The merged folder's tokenizer_config.json: the base's (or an empty one) with `chat_template` set.
    static func tokenizerConfig(_ base: JSONValue?, chatTemplate: String) throws -> JSONValue {
        guard var pairs = (base ?? .object([])).object else {
            throw BloomError(.invalidJSON, "tokenizer_config.json is not a JSON object")
        }
        if let k = pairs.firstIndex(where: { $0.0 == "chat_template" }) {
            pairs[k].1 = .string(chatTemplate)
        } else {
            pairs.append(("chat_template", .string(chatTemplate)))
        }
        return .object(pairs)
    }

    /// Streams `model` into `output` (which must be empty or missing): companion files from `baseFolder` (its
    /// tokenizer_config.json with `chatTemplate` set; its chat_template.jinja left out, as it would override that),
    /// shards, the index when there are several shards, then config.json. Every file stays under a temporary name until
    /// all are complete and `beforeCommit` has passed; on any error (its own included) they are all removed.
    /// - Returns: the files written (names in `output`) and the data bytes.
    static func write(_ model: MergedModel, config baseConfig: JSONValue, baseFolder: String, to output: String,
                      dtype: MergeDType, maxShardSize: Int, quiet: Bool,
                      chatTemplate: String,
                      beforeCommit: () throws -> Void = {}) throws -> (files: [String], bytes: Int) {
        let entries = try model.tensors.map { tensor -> SafetensorsWriter.Entry in
            let stored = dtype.dtype ?? tensor.dtype
            guard stored.isFloatingPointWeight else {
                throw BloomError(.unsupported, "tensor '\(tensor.name)' is \(tensor.dtype.rawValue); a merged model "
                                 + "holds F32, F16 or BF16 tensors", path: baseFolder, location: tensor.name)
            }
            return SafetensorsWriter.Entry(tensor, as: stored)
        }
        let shards = try MergeOutput.shards(entries, maxShardSize: maxShardSize)
        let totalBytes = shards.reduce(0) { $0 + $1.dataBytes }
        let config = try MergeWriter.config(baseConfig, dtype: dtype.dtype, untiedEmbeddings: model.untiedEmbeddings)

        var staged: [AtomicFile] = []
        var committed: [String] = []
        do {
            let rewritten = ["tokenizer_config.json", "chat_template.jinja"]
            for name in MergeOutput.companionFiles where !rewritten.contains(name)
                && MergeOutput.isRegularFile(baseFolder + "/" + name) {
                let source = try MappedFile(path: baseFolder + "/" + name)
                staged.append(try MergeOutput.stage(withExtendedLifetime(source) { Array(source.bytes) },
                                                    at: output + "/" + name))
            }
            let baseTokenizerConfig = baseFolder + "/tokenizer_config.json"
            let tokenizerConfig = try tokenizerConfig(MergeOutput.isRegularFile(baseTokenizerConfig)
                                                          ? JSONFile.read(baseTokenizerConfig) : nil,
                                                      chatTemplate: chatTemplate)
            staged.append(try MergeOutput.stage(Array((JSONWriter.string(tokenizerConfig, pretty: true) + "\n").utf8),
                                                at: output + "/tokenizer_config.json"))
            let progress = ProgressReporter(label: "merge", totalItems: entries.count, totalBytes: totalBytes,
                                            quiet: quiet)
            defer { progress.finish() }
            var bytesDone = 0
            var tensorsDone = 0
            for shard in shards {
                // A small buffer: every shard stays open (uncommitted) until the last one is complete.
                let file = try AtomicFile(destination: output + "/" + shard.fileName, bufferSize: 1 << 20)
                staged.append(file)
                try SafetensorsWriter.write(shard.entries, to: file) { bytes, finishedTensor in
                    bytesDone += bytes
                    if finishedTensor { tensorsDone += 1 }
                    progress.update(items: tensorsDone, bytes: bytesDone)
                }
            }
            if shards.count > 1 {
                staged.append(try MergeOutput.stage(
                    Array((JSONWriter.string(MergeOutput.index(shards), pretty: true) + "\n").utf8),
                                                    at: output + "/model.safetensors.index.json"))
            }
            staged.append(try MergeOutput.stage(Array((JSONWriter.string(config, pretty: true) + "\n").utf8),
                                                at: output + "/config.json"))
            try beforeCommit()
            for file in staged {
                try file.commit()
                committed.append(file.destination)
            }
        } catch {
            for file in staged { file.abort() }
            for path in committed { unlink(path) }
            throw error
        }
        return (staged.map { String($0.destination.dropFirst(output.count + 1)) }, totalBytes)
    }
}
