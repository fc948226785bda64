import BloomArch
import BloomCheckpoint
import BloomCore
import BloomGGUF
import BloomLoRA
import BloomQuant
import Foundation

/// `bloomkit convert ADAPTER_DIR`: a PEFT LoRA adapter (current or 2023 layout) → llama.cpp's LoRA GGUF for BLOOM
/// (see `BloomLoRAProfile`), applied at load time by llama.cpp (`--lora`) and by bloomkit's runtime.
///
/// Each update becomes one pair in the base GGUF's row order: `LoRAUpdate.factors` (the 2023 grouped convolution
/// expanded to a plain [out, r·k] B), the fused QKV's B rows re-laid like the base tensor's rows (A is unchanged).
/// Scales: llama.cpp has one alpha per file and divides it by each pair's rank. When one alpha gives every module
/// PEFT's scale exactly in f32 (plain LoRA, rank patterns, the 2023 layout) B is stored as trained with that
/// alpha; otherwise (rsLoRA, alpha patterns) each B is multiplied by its module's scale and alpha is 0 (scale 1).
public enum AdapterConverter {
    /// The types an adapter's factors may be stored in (both runtimes compute with them as they are).
    public static let types: [GGMLType] = [.F32, .F16, .BF16]

    /// Whether `path` is a PEFT adapter folder (adapter_config.json and no config.json).
    public static func isAdapterFolder(_ path: String) -> Bool {
        Paths.isFile(Paths.join(path, AdapterFolder.configFileName)) && !Paths.isFile(Paths.join(path, "config.json"))
    }

    /// The hyper-parameters of a base: a model folder (its config.json; hub ids and cache folders resolve offline)
    /// or a BLOOM GGUF file.
    public static func baseHyperParameters(_ path: String) throws -> BloomHyperParameters {
        if GGUFInspect.isGGUF(path: path) {
            let file = try GGUFFile(path: path)
            do {
                return try BloomHyperParameters(metadata: file.metadata)
            } catch let error as BloomError {
                throw error.at(path: path)
            }
        }
        let folder = try HubCache.resolve(path)
        let configPath = Paths.join(folder, "config.json")
        guard Paths.isFile(configPath) else {
            throw BloomError(.missingFile, "the base is neither a model folder with config.json nor a GGUF file",
                             path: folder)
        }
        return try BloomHyperParameters(config: try BloomConfig(path: configPath), seqLength: nil)
    }

    /// Converts the adapter folder at `adapterPath` into an adapter GGUF at `path` (written atomically).
    /// - Parameters:
    ///   - base: the base model (folder or GGUF) the adapter applies to; nil: the adapter's
    ///     `base_model_name_or_path`, if it is a local folder or in the hub cache.
    ///   - type: F32, F16 or BF16 for the factors.
    /// - Returns: the report (one line per tensor; the note says when scales were folded into B).
    /// - Throws: the adapter readers' errors; `loraUnsupported` for whole saved tensors (trained biases,
    ///   modules_to_save) and LoRA outside the blocks' linear layers (merge instead); `loraShapeMismatch` when the
    ///   adapter does not fit the base.
    public static func convert(adapter adapterPath: String, base: String?, to path: String,
                               type: GGMLType = .F32) throws -> ConvertReport {
        let start = ProgressReporter.now()
        guard types.contains(type) else {
            throw BloomError(.invalidArgument, "an adapter's factors are stored as f32, f16 or bf16, not \(type.name)")
        }
        let folder = try AdapterFolder(path: adapterPath)
        let adapter = try LoRAAdapter(folder: folder)
        if let first = adapter.replacements.first {
            throw BloomError(.loraUnsupported, "the adapter saves whole tensors besides its LoRA pairs"
                             + " ('\(first.name)' and \(adapter.replacements.count - 1) more: bias"
                             + " '\(folder.config.bias)' or modules_to_save); a GGUF LoRA adapter holds only low-rank"
                             + " pairs: merge it instead (bloomkit merge BASE ADAPTER -o OUT, or bloomkit convert BASE"
                             + " --lora ADAPTER -o OUT.gguf)",
                             path: adapter.path, location: first.name)
        }
        guard let basePath = base ?? adapter.baseModelNameOrPath else {
            throw BloomError(.invalidArgument,
                             "the adapter names no base model: give --base (a model folder or a BLOOM GGUF file)",
                             path: adapter.path)
        }
        let h: BloomHyperParameters
        do {
            h = try baseHyperParameters(basePath)
        } catch let error as BloomError where base == nil {
            throw BloomError(.missingFile, "the adapter's base '\(basePath)' cannot be read (\(error.message));"
                             + " give --base (a model folder or a BLOOM GGUF file): the fused QKV re-layout needs its"
                             + " head count",
                             path: adapter.path, cause: error)
        }
        let pairs = try adapter.updates.map { try pair($0, adapter: adapter, h) }
            .sorted { ($0.block, $0.order) < ($1.block, $1.order) }

        // One alpha for the file when it reproduces every module's f32 scale the way llama.cpp computes it (an alpha
        // of 0 would mean scale 1 there).
        let alpha = pairs.first.map { Float(Double($0.scaling) * Double($0.rank)) } ?? 0
        let exact = alpha != 0 && pairs.allSatisfy { alpha / Float($0.rank) == $0.scaling }
        var tensors: [(info: GGUFTensorInfo, values: [Float])] = []
        for p in pairs {
            let b = exact ? p.b : p.b.map { $0 * p.scaling }
            let names = BloomLoRAProfile.pairNames(p.weight)
            tensors.append((try GGUFTensorInfo(name: names.a, type: type, ne: [p.inFeatures, p.rank]), p.a))
            tensors.append((try GGUFTensorInfo(name: names.b, type: type, ne: [p.rank, p.outFeatures]), b))
        }

        var entries: [(String, GGUFValue)] = [
            (BloomGGUFKeys.architecture, .string("bloom")),
            (BloomGGUFKeys.type, .string(BloomLoRAProfile.generalType)),
            (BloomGGUFKeys.name, .string(adapter.name)),
            (BloomLoRAProfile.adapterTypeKey, .string(BloomLoRAProfile.lora)),
            (BloomLoRAProfile.alphaKey, .float32(exact ? alpha : 0)),
            (BloomGGUFKeys.source, .string(adapter.name)),
        ]
        if let wanted = adapter.baseModelNameOrPath { entries.append((BloomLoRAProfile.baseKey, .string(wanted))) }
        entries += BloomLoRAProfile.baseEntries(h)
        entries += [(BloomGGUFKeys.fileType, .uint32(FileType.all.first { $0.baseType == type }?.number ?? 0)),
                    (BloomGGUFKeys.checksumAlgorithm, .string(BloomGGUFKeys.xxh64))]
        let writer = try GGUFWriter(path: path, metadata: try GGUFMetadata(entries), tensors: tensors.map(\.info),
                                    checksumKey: BloomGGUFKeys.tensorChecksums)
        var reports: [TensorReport] = []
        do {
            for (info, values) in tensors {
                var bytes = [UInt8](repeating: 0, count: info.byteCount)
                try values.withUnsafeBufferPointer { src in
                    try bytes.withUnsafeMutableBytes {
                        try Quantizer.quantize(type, rows: src, rowLength: info.ne[0], into: $0, threads: 1)
                    }
                }
                try bytes.withUnsafeBytes { try writer.write(tensorNamed: info.name, $0) }
                reports.append(TensorReport(name: info.name, sourceName: adapter.name, type: type, ne: info.ne,
                                            byteCount: info.byteCount, elementCount: info.elementCount,
                                            error: QuantizationError(), note: exact ? nil : "scale folded into lora_b"))
            }
            try writer.commit()
        } catch {
            writer.abort()
            throw error
        }
        return ConvertReport(path: path, tensors: reports, fileSize: try Converter.fileSize([path]),
                             seconds: ProgressReporter.now() - start, measured: false)
    }

    /// One update as a GGUF pair, before scales are settled.
    private struct Pair {
        var weight: String, block: Int, order: Int
        var a: [Float], b: [Float], rank: Int, inFeatures: Int, outFeatures: Int, scaling: Float
    }

    private static func pair(_ u: LoRAUpdate, adapter: LoRAAdapter, _ h: BloomHyperParameters) throws -> Pair {
        guard let weight = BloomTensorNames.ggufName(forHF: u.weightName),
              let (block, kind) = BloomLoRAProfile.adaptable(weight) else {
            throw BloomError(.loraUnsupported, "LoRA on '\(u.weightName)' is outside the blocks' linear layers, where"
                             + " llama.cpp applies BLOOM adapters: merge it instead (bloomkit merge or convert --lora)",
                             path: adapter.path, location: u.weightName)
        }
        guard let ne = BloomLoRAProfile.weightNE(weight, h),
              ne == [u.inFeatures, u.outFeatures] else {
            throw BloomError(.loraShapeMismatch, "lora_B·lora_A of '\(u.weightName)' is"
                             + " [\(u.outFeatures), \(u.inFeatures)], which the base (\(h.blockCount) blocks, hidden"
                             + " \(h.embeddingLength)) has no place for",
                             path: adapter.path, location: u.weightName)
        }
        var (a, b, rank) = u.factors
        if kind == .attentionQKV {
            // The base's rows go from head-interleaved to Q|K|V; B's rows follow them, A's columns do not move.
            b = QKVLayout(headCount: h.headCount, headDim: h.headDim).toGGUF(b, rowLength: rank)
        }
        let order = BloomLoRAProfile.adaptableKinds.firstIndex(of: kind) ?? 0
        return Pair(weight: weight, block: block, order: order, a: a, b: b, rank: rank, inFeatures: u.inFeatures,
                    outFeatures: u.outFeatures, scaling: u.scaling)
    }
}
