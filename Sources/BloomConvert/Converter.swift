import BloomArch
import BloomCore
import BloomGGUF
import BloomQuant
import Foundation

/// What `convert` writes from: checkpoint tensors (Hugging Face names, possibly with LoRA merged on the fly),
/// hyper-parameters, tokenizer and provenance.
public struct ConvertInput: Sendable {
    /// Where the authorship keys (`general.name`, `general.basename`, …) come from.
    public var publishing: PublishMetadata.Source
    /// Where the weights came from on this machine (errors name it; never written into the file).
    public var source: String
    /// `bloomkit.source`: the base model's public name (`HubCache.publicName`), never a path.
    public var sourceName: String
    /// `bloomkit.adapters`: "NAME scale=S" per merged adapter, in merge order.
    public var adapters: [String]
    /// The prompt templates stored (`tokenizer.chat_template`, `bloomkit.prompt_template.*`).
    public var template: TemplateChoice.Resolved
    public var hyperParameters: BloomHyperParameters
    /// config.json's tie_word_embeddings (BLOOM: true).
    public var tiedOutput: Bool
    public var vocabulary: ConvertVocabulary
    public var tensors: [SourceTensor]
    /// Things the user should know that do not stop the conversion (e.g. an adapter made for another base).
    public var warnings: [String] = []

    public init(publishing: PublishMetadata.Source, source: String, sourceName: String? = nil,
                adapters: [String] = [],
                template: TemplateChoice.Resolved = TemplateChoice.Resolved(),
                hyperParameters: BloomHyperParameters, tiedOutput: Bool, vocabulary: ConvertVocabulary,
                tensors: [SourceTensor]) {
        self.publishing = publishing
        self.source = source
        self.sourceName = sourceName ?? publishing.folderName
        self.adapters = adapters
        self.template = template
        self.hyperParameters = hyperParameters
        self.tiedOutput = tiedOutput
        self.vocabulary = vocabulary
        self.tensors = tensors
    }
}

/// One tensor's line of the conversion report.
public struct TensorReport: Sendable {
    public var name: String
    /// The checkpoint tensor it came from.
    public var sourceName: String
    public var type: GGMLType
    public var ne: [Int]
    public var byteCount: Int
    public var elementCount: Int
    public var error: QuantizationError
    public var note: String?
}

/// The conversion's outcome: per tensor, and totals.
public struct ConvertReport: Sendable {
    public var path: String
    public var tensors: [TensorReport]
    public var fileSize: Int
    public var seconds: Double
    /// Whether `error` fields were measured.
    public var measured: Bool
    /// The files written: `path` alone, or every part of a split set.
    public var parts: [String] = []
    /// Things the user should know that did not stop the job (a `--tensor-type` pattern that matched nothing).
    public var warnings: [String] = []

    public var tensorBytes: Int { tensors.reduce(0) { $0 + $1.byteCount } }
    public var elementCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
    /// 8 × tensor bytes / elements (headers and padding excluded), as llama.cpp reports BPW.
    public var bitsPerWeight: Double { elementCount == 0 ? 0 : Double(tensorBytes) * 8 / Double(elementCount) }
}

/// `bloomkit convert`: checkpoint tensors → one BLOOM GGUF file (llama.cpp's profile, see
/// Formats/gguf-bloom-profile.md).
public enum Converter {
    /// The metadata of a BLOOM GGUF in bloomkit's order (general, provenance, hyper-parameters, tokenizer, template).
    /// - Parameter source: `bloomkit.source`, a public name (never a path).
    static func metadata(publishing: PublishMetadata, source: String, adapters: [String],
                         template: TemplateChoice.Resolved,
                         fileType: UInt32, hyperParameters: BloomHyperParameters,
                         vocabulary: [(String, GGUFValue)]) throws -> GGUFMetadata {
        var pairs: [(String, GGUFValue)] = [
            (BloomGGUFKeys.architecture, .string("bloom")),
            (BloomGGUFKeys.type, .string("model")),
        ]
        pairs += publishing.metadataEntries
        pairs.append((BloomGGUFKeys.source, .string(source)))
        if !adapters.isEmpty { pairs.append((BloomGGUFKeys.adapters, .array(.string(adapters)))) }
        pairs += hyperParameters.metadataEntries
        pairs += [(BloomGGUFKeys.fileType, .uint32(fileType)), (BloomGGUFKeys.quantizationVersion, .uint32(2))]
        pairs += vocabulary
        pairs += [
            (BloomGGUFKeys.chatTemplate, .string(template.chatTemplate)),
            (BloomGGUFKeys.promptTemplateNoInput, .string(template.style.noInput)),
            (BloomGGUFKeys.promptTemplateWithInput, .string(template.style.withInput)),
            (BloomGGUFKeys.checksumAlgorithm, .string(BloomGGUFKeys.xxh64)),
        ]
        return try GGUFMetadata(pairs)
    }

    /// Converts `input` into a GGUF file at `path` (written atomically).
    /// - Returns: the report (errors measured only with `options.measureError`).
    /// - Throws: `BloomError` for a tensor that does not fit the BLOOM profile, a read error, or an I/O error;
    ///   nothing is left at `path` then.
    public static func convert(_ input: ConvertInput, to path: String,
                               options: ConvertOptions) throws -> ConvertReport {
        let start = ProgressReporter.now()
        let plan: (tensors: [PlannedTensor], warnings: [String])
        do {
            plan = try ConvertPlan.make(sources: input.tensors, hyperParameters: input.hyperParameters,
                                        tiedOutput: input.tiedOutput, options: options)
        } catch let error as BloomError {
            throw error.at(path: input.source)  // the model folder the tensors and config.json come from
        }
        let parameters = plan.tensors.reduce(0) { $0 + $1.info.ne.reduce(1, *) }
        let publishing = PublishMetadata(input.publishing, totalParameters: parameters)
        let metadata = try metadata(publishing: publishing,
                                    source: input.sourceName, adapters: input.adapters,
                                    template: input.template,
                                    fileType: options.type.number, hyperParameters: input.hyperParameters,
                                    vocabulary: input.vocabulary.metadataEntries)
        let written = try write(plan.tensors, metadata: metadata, to: path, options: options, label: "convert")
        return ConvertReport(path: written.paths[0], tensors: written.reports, fileSize: try fileSize(written.paths),
                             seconds: ProgressReporter.now() - start, measured: options.measureError,
                             parts: written.paths, warnings: plan.warnings + publishing.sampling.skipped)
    }

    /// Streams `plan` into a new GGUF file with per-tensor checksums, or, with `options.split`, into the parts of a
    /// gguf-split set (`SplitLimits`), each part carrying the checksums of its own tensors. Each part is renamed into
    /// place when it is complete, the first part (the one readers open) last, so an interrupted run leaves no set that
    /// opens; only two parts are open at a time, whatever the number of parts. On an error no part is left.
    /// - Returns: the reports and the files written (the first part first).
    static func write(_ plan: [PlannedTensor], metadata: GGUFMetadata, to path: String, options: ConvertOptions,
                      label: String) throws -> (reports: [TensorReport], paths: [String]) {
        var metadata = metadata
        if let (file, matrix) = options.imatrix { ImportanceKeys.record(file: file, matrix, in: &metadata) }
        let ranges = try options.split.map { try $0.parts(plan.map(\.info)) } ?? [plan.indices]
        let paths = options.split == nil ? [path] : ranges.indices.map {
            GGUFSplitSet.partPath(prefix: SplitLimits.prefix(of: path), number: $0 + 1, count: ranges.count)
        }
        let progress = ProgressReporter(label: label, totalItems: plan.count,
                                        totalBytes: plan.reduce(0) { $0 + $1.info.byteCount }, quiet: options.quiet)
        var done = 0
        var reports: [TensorReport] = []
        var open: [GGUFWriter] = []
        var committed: [String] = []
        do {
            for (p, range) in ranges.enumerated() {
                var partMetadata = p == 0 ? metadata : GGUFMetadata()
                if options.split != nil {
                    try partMetadata.append(GGUFSplitSet.splitNumberKey, .uint16(UInt16(clamping: p)))
                    try partMetadata.append(GGUFSplitSet.splitCountKey, .uint16(UInt16(clamping: ranges.count)))
                    try partMetadata.append(GGUFSplitSet.splitTensorCountKey, .int32(Int32(clamping: plan.count)))
                }
                let writer = try GGUFWriter(path: paths[p], metadata: partMetadata, tensors: plan[range].map(\.info),
                                            checksumKey: BloomGGUFKeys.tensorChecksums)
                open.append(writer)
                for k in range {
                    let t = plan[k]
                    if let raw = t.copyFrom {
                        try writer.write(tensorNamed: t.info.name, raw.bytes)
                        done += raw.byteCount
                        progress.update(items: k, bytes: done)
                        reports.append(TensorReport(name: t.info.name, sourceName: raw.name, type: t.info.type,
                                                    ne: t.info.ne, byteCount: t.info.byteCount,
                                                    elementCount: t.info.elementCount, error: QuantizationError(),
                                                    note: t.note))
                        continue
                    }
                    let error = try ConvertStream.write(t, to: writer, threads: options.threads,
                                                        chunkElements: options.chunkElements,
                                                        measure: options.measureError,
                                                        importance: options.imatrix?.matrix.importance(of: t.info.name)
                    ) { bytes in
                        done += bytes
                        progress.update(items: k, bytes: done)
                    }
                    reports.append(TensorReport(name: t.info.name, sourceName: t.source.name, type: t.info.type,
                                                ne: t.info.ne, byteCount: t.info.byteCount,
                                                elementCount: t.info.elementCount, error: error, note: t.note))
                }
                if p > 0 {
                    try writer.commit()
                    committed.append(writer.path)
                    open.removeLast()
                }
            }
            try open.first?.commit()
            open.removeAll()
        } catch {
            for writer in open { writer.abort() }
            for path in committed { unlink(path) }
            progress.finish()
            throw error
        }
        progress.finish()
        return (reports, paths)
    }

    static func fileSize(_ paths: [String]) throws -> Int {
        try paths.reduce(0) { total, path in
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return total + ((attributes[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}
