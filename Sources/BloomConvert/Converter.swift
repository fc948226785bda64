import BloomArch
import BloomCore
import BloomGGUF
import BloomQuant
import Foundation

/// What `convert` writes from: checkpoint tensors (Hugging Face names, possibly with LoRA merged on the fly),
/// hyper-parameters, tokenizer and provenance.
public struct ConvertInput: Sendable {
    /// `general.name`.
    public var name: String
    /// `bloomkit.source`: where the weights came from.
    public var source: String
    /// `bloomkit.adapters`: "NAME scale=S" per merged adapter, in merge order.
    public var adapters: [String]
    public var hyperParameters: BloomHyperParameters
    /// config.json's tie_word_embeddings (BLOOM: true).
    public var tiedOutput: Bool
    public var vocabulary: ConvertVocabulary
    public var tensors: [SourceTensor]
    /// Things the user should know that do not stop the conversion (e.g. an adapter made for another base).
    public var warnings: [String] = []

    public init(name: String, source: String, adapters: [String] = [], hyperParameters: BloomHyperParameters,
                tiedOutput: Bool, vocabulary: ConvertVocabulary, tensors: [SourceTensor]) {
        self.name = name
        self.source = source
        self.adapters = adapters
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

    public var tensorBytes: Int { tensors.reduce(0) { $0 + $1.byteCount } }
    public var elementCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
    /// 8 × tensor bytes / elements (headers and padding excluded), as llama.cpp reports BPW.
    public var bitsPerWeight: Double { elementCount == 0 ? 0 : Double(tensorBytes) * 8 / Double(elementCount) }
}

/// `bloomkit convert`: checkpoint tensors → one BLOOM GGUF file (llama.cpp's profile, see Formats/gguf-bloom-profile.md).
public enum Converter {
    /// The metadata of a BLOOM GGUF in bloomkit's order (general, provenance, hyper-parameters, tokenizer, template).
    static func metadata(name: String, source: String, adapters: [String], fileType: UInt32, hyperParameters: BloomHyperParameters,
                         vocabulary: [(String, GGUFValue)]) throws -> GGUFMetadata {
        var pairs: [(String, GGUFValue)] = [
            (BloomGGUFKeys.architecture, .string("bloom")),
            (BloomGGUFKeys.type, .string("model")),
            (BloomGGUFKeys.name, .string(name)),
            (BloomGGUFKeys.source, .string(source)),
        ]
        if !adapters.isEmpty { pairs.append((BloomGGUFKeys.adapters, .array(.string(adapters)))) }
        pairs += hyperParameters.metadataEntries
        pairs += [(BloomGGUFKeys.fileType, .uint32(fileType)), (BloomGGUFKeys.quantizationVersion, .uint32(2))]
        pairs += vocabulary
        pairs += [
            (BloomGGUFKeys.promptTemplateNoInput, .string(AlpacaTemplate.noInput)),
            (BloomGGUFKeys.promptTemplateWithInput, .string(AlpacaTemplate.withInput)),
            (BloomGGUFKeys.checksumAlgorithm, .string(BloomGGUFKeys.xxh64)),
        ]
        return try GGUFMetadata(pairs)
    }

    /// Converts `input` into a GGUF file at `path` (written atomically).
    /// - Returns: the report (errors measured only with `options.measureError`).
    /// - Throws: `BloomError` for a tensor that does not fit the BLOOM profile, a read error, or an I/O error;
    ///   nothing is left at `path` then.
    public static func convert(_ input: ConvertInput, to path: String, options: ConvertOptions) throws -> ConvertReport {
        let start = ProgressReporter.now()
        guard ConvertCodec.isSupported(options.type) else {
            throw BloomError(.invalidArgument, "cannot convert to \(options.type.name)")
        }
        let plan: [PlannedTensor]
        do {
            plan = try ConvertPlan.make(sources: input.tensors, hyperParameters: input.hyperParameters,
                                        tiedOutput: input.tiedOutput, options: options)
        } catch let error as BloomError {
            throw error.at(path: input.source)  // the model folder the tensors and config.json come from
        }
        let metadata = try metadata(name: input.name, source: input.source, adapters: input.adapters,
                                    fileType: ConvertCodec.fileType(of: options.type), hyperParameters: input.hyperParameters,
                                    vocabulary: input.vocabulary.metadataEntries)
        let reports = try write(plan, metadata: metadata, to: path, options: options, label: "convert")
        return ConvertReport(path: path, tensors: reports, fileSize: try fileSize(path), seconds: ProgressReporter.now() - start,
                             measured: options.measureError)
    }

    /// Streams `plan` into a new GGUF file with per-tensor checksums.
    static func write(_ plan: [PlannedTensor], metadata: GGUFMetadata, to path: String, options: ConvertOptions,
                      label: String) throws -> [TensorReport] {
        var metadata = metadata
        if let (file, matrix) = options.imatrix { ImportanceKeys.record(file: file, matrix, in: &metadata) }
        let writer = try GGUFWriter(path: path, metadata: metadata, tensors: plan.map(\.info),
                                    checksumKey: BloomGGUFKeys.tensorChecksums)
        let progress = ProgressReporter(label: label, totalItems: plan.count, totalBytes: writer.tensors.reduce(0) { $0 + $1.byteCount },
                                        quiet: options.quiet)
        var done = 0
        var reports: [TensorReport] = []
        do {
            for (k, t) in plan.enumerated() {
                if let raw = t.copyFrom {
                    try writer.write(tensorNamed: t.info.name, raw.bytes)
                    done += raw.byteCount
                    progress.update(items: k, bytes: done)
                    reports.append(TensorReport(name: t.info.name, sourceName: raw.name, type: t.info.type, ne: t.info.ne,
                                                byteCount: t.info.byteCount, elementCount: t.info.elementCount, error: QuantizationError(),
                                                note: t.note))
                    continue
                }
                let error = try ConvertStream.write(t, to: writer, threads: options.threads, chunkElements: options.chunkElements,
                                                    measure: options.measureError,
                                                    importance: options.imatrix?.matrix.importance(of: t.info.name)) { bytes in
                    done += bytes
                    progress.update(items: k, bytes: done)
                }
                reports.append(TensorReport(name: t.info.name, sourceName: t.source.name, type: t.info.type, ne: t.info.ne,
                                            byteCount: t.info.byteCount, elementCount: t.info.elementCount, error: error, note: t.note))
            }
            try writer.commit()
        } catch {
            writer.abort()
            progress.finish()
            throw error
        }
        progress.finish()
        return reports
    }

    static func fileSize(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.size] as? NSNumber)?.intValue ?? 0
    }
}
