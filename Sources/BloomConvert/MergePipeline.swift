import BloomArch
import BloomCheckpoint
import BloomCore
import BloomLoRA
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Options of `bloomkit merge`.
public struct MergeOptions: Sendable {
    /// The stored dtype (`auto` keeps each base tensor's).
    public var dtype: MergeDType
    /// Largest shard, in data bytes (transformers' default: 5 GB).
    public var maxShardSize: Int
    /// No progress line even on a terminal.
    public var quiet: Bool
    /// Replace an output folder that already holds files (the new folder is complete before the old one goes).
    public var replaceExisting = false
    /// The chat template written into tokenizer_config.json (the one `convert` would store for the same choice).
    public var template: TemplateChoice
    /// Keep merged tensors holding NaN, infinities or values past the stored dtype's range (with a warning naming
    /// them) instead of refusing the merge.
    public var allowNonFinite = false

    public static let defaultMaxShardSize = 5_000_000_000

    public init(dtype: MergeDType = .auto, maxShardSize: Int = MergeOptions.defaultMaxShardSize, quiet: Bool = false,
                template: TemplateChoice = TemplateChoice()) {
        self.dtype = dtype
        self.maxShardSize = maxShardSize
        self.quiet = quiet
        self.template = template
    }
}

/// What a merge wrote.
public struct MergeSummary: Sendable {
    /// File names in the output folder, in the order they were committed (config.json last).
    public let files: [String]
    public let tensorCount: Int
    /// Tensor data bytes written (headers excluded).
    public let bytes: Int
    /// Base tensors the adapters changed or replaced.
    public let changedTensors: [String]
    public let seconds: Double
}

/// `bloomkit merge`: PEFT LoRA adapters merged into a base model, written as a Hugging Face folder.
public enum MergePipeline {
    /// Opens a base model folder and adapter folders and returns the merged model as lazily merged tensors — the same
    /// merge `merge` writes, for pipelines that consume it in memory (`convert --lora`). Checks every adapter against
    /// the base; nothing is computed until rows are read. Rows of the base are read once, front to back: the pages
    /// behind each read are handed back to the kernel, so resident memory stays near one chunk, not the model.
    /// - Parameters:
    ///   - base: a model folder (or hub id / cache folder, as `ModelFolder` resolves it), or a .bkz of one.
    ///   - adapters: PEFT adapter folders, applied in order.
    ///   - storedAs, nonFinite: as `LoRAMerge.apply` takes them.
    /// - Returns: the base folder (config, tokenizer paths) and the merged model (tensors in the base's order and
    ///   spelling, `lm_head.weight` appended when an adapter untied it; warnings for the caller to print).
    /// - Throws: reader errors; `loraMissingTarget` / `loraShapeMismatch` naming the tensor; `loraUnsupported`.
    public static func open(base: String, adapters: [String], storedAs: DType? = nil,
                            nonFinite: NonFiniteLog? = nil) throws -> (base: ModelFolder, merged: MergedModel) {
        let opened = try BaseModel.open(base)
        let folder = opened.folder
        let loaded = try adapters.map { try LoRAAdapter(folder: AdapterFolder(path: $0)) }
        let mergeBase = MergeBase(tensors: opened.tensors,
                                  tiedEmbeddings: folder.tiesWordEmbeddings, path: opened.unpackedPath,
                                  nameOrPath: folder.config["_name_or_path"]?.string)
        return (folder, try LoRAMerge.apply(loaded, to: mergeBase, storedAs: storedAs, nonFinite: nonFinite))
    }

    /// Merges `adapters` into `base` and writes the result to `output` (created if missing; must be empty unless
    /// `options.replaceExisting`: then the merge is written to a staging folder beside it, which takes its place
    /// only when complete, and an output that holds an input is refused).
    /// - Parameters:
    ///   - warn: receives each warning before anything is written.
    /// - Throws: `invalidArgument` when `output` is an input or not empty; everything `open` throws; write errors
    ///   and, unless `options.allowNonFinite`, `loraNonFinite` naming every merged tensor that holds a NaN, an
    ///   infinity or a value its stored dtype cannot hold (after which `output` holds nothing of this merge, and
    ///   a folder the merge created is gone).
    public static func run(base: String, adapters: [String], output: String, options: MergeOptions = MergeOptions(),
                           warn: (String) -> Void = { _ in }) throws -> MergeSummary {
        let start = ProgressReporter.now()
        try MergeOutput.refuseInputs(output, inputs: [base] + adapters)
        let nonFinite = NonFiniteLog()
        let (folder, merged) = try open(base: base, adapters: adapters, storedAs: options.dtype.dtype,
                                        nonFinite: nonFinite)
        try MergeOutput.refuseInputs(output, inputs: [folder.path])  // a hub id resolved to its snapshot folder
        try checkConfig(of: folder)
        let template = try options.template.resolve(folder: folder.path)
        merged.warnings.forEach(warn)
        template.warning.map(warn)
        let replacing = options.replaceExisting && MergeOutput.isNonEmptyFolder(output)
        if replacing { try MergeOutput.refuseInputsInside(output, inputs: [base, folder.path] + adapters) }
        let target = replacing ? try MergeOutput.stagingFolder(for: output) : output
        let created = try MergeOutput.prepareFolder(target)
        let written: (files: [String], bytes: Int)
        do {
            written = try MergeWriter.write(merged, config: folder.config, baseFolder: folder.path, to: target,
                                            dtype: options.dtype, maxShardSize: options.maxShardSize,
                                            quiet: options.quiet, chatTemplate: template.chatTemplate) {
                // Every tensor is written (uncommitted): the log names all of them.
                let found = nonFinite.findings
                guard let first = found.first, !options.allowNonFinite else { return }
                throw BloomError(.loraNonFinite, "merging gives NaN, infinities or values past the stored dtype's "
                                 + "range (at most \(first.limit)) in \(found.count) tensor(s): "
                                 + "\(NonFiniteLog.describe(found)); the adapter's scaling or weights overflow "
                                 + "(--allow-non-finite keeps them)", path: first.adapter, location: first.tensor)
            }
            if replacing { try MergeOutput.replace(output, with: target) }
        } catch {
            if replacing || created { MergeOutput.removeTree(target) }
            throw error
        }
        let kept = nonFinite.findings
        if !kept.isEmpty {
            warn("kept \(kept.count) merged tensor(s) holding NaN, infinities or values past their dtype's range "
                 + "(--allow-non-finite): \(NonFiniteLog.describe(kept))")
        }
        return MergeSummary(files: written.files, tensorCount: merged.tensors.count, bytes: written.bytes,
                            changedTensors: merged.changedTensors, seconds: ProgressReporter.now() - start)
    }

    /// The base's config.json against its tensors, as `convert` checks them (n_head dividing hidden_size, n_layer,
    /// the vocabulary and every shape): a merge of a folder whose config disagrees with its weights would write a model
    /// that transformers and `convert` refuse, or that computes something else than the checkpoint.
    /// - Throws: `.bloomConfig` or `.invalidArgument` naming config.json, the key or tensor, and the value.
    static func checkConfig(of folder: ModelFolder) throws {
        let config = try BloomConfig(json: folder.config, path: folder.configPath)
        do {
            let hyper = try BloomHyperParameters(config: config, seqLength: folder.config["seq_length"]?.int)
            _ = try ConvertPlan.make(sources: folder.tensors.map(SourceTensor.init), hyperParameters: hyper,
                                     tiedOutput: folder.tiesWordEmbeddings, options: ConvertOptions())
        } catch let error as BloomError {
            throw error.at(path: folder.configPath)
        }
    }
}
