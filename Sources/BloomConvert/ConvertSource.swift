import BloomArch
import BloomCheckpoint
import BloomCore
import BloomLoRA
import Foundation

extension ConvertInput {
    /// Opens a Hugging Face BLOOM model folder (any layout the readers accept) and, if given, PEFT LoRA adapter
    /// folders merged on the fly in order (nothing is computed until the converter reads rows).
    /// - Parameters:
    ///   - folder: a model folder, hub id, hub-cache folder, or a .bkz of a model folder (read in place).
    ///   - adapters: adapter folders (adapter_config.json + adapter_model.safetensors or .bin).
    ///   - template: which prompt template the file carries (resolved against the model folder).
    ///   - metadataFile: a `--metadata` override file (convert_hf_to_gguf.py's format); `name`: `--name`.
    /// - Throws: reader, config, tokenizer, template, model card and merge errors, naming the file.
    public init(folder: String, adapters adapterPaths: [String] = [], template: TemplateChoice = TemplateChoice(),
                metadataFile: String? = nil, name modelName: String? = nil) throws {
        let model: ModelFolder
        var tensors: [SourceTensor]
        var tied: Bool
        var warnings: [String] = []
        var provenance: [String] = []
        if adapterPaths.isEmpty {
            let base = try BaseModel.open(folder)
            model = base.folder
            tensors = base.tensors
            tied = model.tiesWordEmbeddings
        } else {
            // The same merge `bloomkit merge` writes, streamed (pages released as rows are read).
            let (base, merged) = try MergePipeline.open(base: folder, adapters: adapterPaths)
            model = base
            tensors = merged.tensors
            tied = model.tiesWordEmbeddings && !merged.untiedEmbeddings
            warnings = merged.warnings
            provenance = zip(merged.adapters, adapterPaths).map { a, path in
                let scales = Set(a.updates.map(\.scaling)).sorted().map { "\($0)" }.joined(separator: ",")
                let name = HubCache.publicName(of: (try? HubCache.resolve(path)) ?? path)  // a hub id: its snapshot
                return "\(name) scale=\(scales.isEmpty ? "none" : scales)"
            }
        }
        let config = try BloomConfig(json: model.config, path: model.configPath)
        guard !config.applyResidualConnectionPostLayernorm else {
            throw BloomError(.unsupported,
                             "apply_residual_connection_post_layernorm is true; llama.cpp's BLOOM graph does not " +
                             "support it",
                             path: model.configPath)
        }
        let hyper: BloomHyperParameters
        do {
            hyper = try BloomHyperParameters(config: config, seqLength: model.config["seq_length"]?.int)
        } catch let error as BloomError {
            throw error.at(path: model.configPath)
        }
        let (generationConfig, generationWarning) = Self.generationConfig(folder: model.path)
        self.init(publishing: try Self.publishing(model: model, adapters: adapterPaths, metadataFile: metadataFile,
                                                  generationConfig: generationConfig, name: modelName),
                  source: model.path, sourceName: HubCache.publicName(of: model.path), adapters: provenance,
                  template: try template.resolve(folder: model.path), hyperParameters: hyper, tiedOutput: tied,
                  vocabulary: try ConvertVocabulary(folder: model.path, vocabSize: config.vocabSize,
                                                    config: model.config),
                  tensors: tensors)
        self.warnings = warnings + [self.template.warning, generationWarning].compactMap { $0 }
    }

    /// `folder`/generation_config.json (an empty object when there is none). As gguf-py, a file that does not read
    /// as a JSON object holds no settings: the conversion goes on, with a warning that names it.
    static func generationConfig(folder: String) -> (JSONValue, warning: String?) {
        let path = folder + "/generation_config.json"
        guard FileManager.default.fileExists(atPath: path) else { return (.object([]), nil) }
        do {
            let config = try JSONFile.read(path)
            if config.object != nil { return (config, nil) }
            return (.object([]), "\(path) is not a JSON object; no sampling settings are taken from it")
        } catch {
            return (.object([]), "\(path) was not read (\(error)); no sampling settings are taken from it")
        }
    }

    /// Where the authorship keys come from: the model folder's card, config and name; with adapters, the last
    /// adapter's card and name (the file is that fine-tune), its `base_model_name_or_path` standing in for a card
    /// without `base_model`.
    static func publishing(model: ModelFolder, adapters: [String], metadataFile: String?,
                           generationConfig: JSONValue, name: String?) throws -> PublishMetadata.Source {
        let override = try metadataFile.map(JSONFile.read) ?? .object([])
        guard override.object != nil else {
            throw BloomError(.invalidJSON, "the metadata file is not a JSON object", path: metadataFile)
        }
        guard let adapter = adapters.last else {
            return PublishMetadata.Source(card: try ModelCard.header(inFolder: model.path), config: model.config,
                                          generationConfig: generationConfig,
                                          folderName: HubCache.publicName(of: model.path), override: override,
                                          name: name)
        }
        let folder = try AdapterFolder(path: adapter, headersOnly: true)
        var card = try ModelCard.header(inFolder: folder.path)
        if PublishMetadata.firstPresent(card, ["base_model", "base_models", "base_model_sources"]) == nil,
           let base = folder.config.baseModelNameOrPath, !base.isEmpty, case .object(var pairs) = card {
            // A hub id as it is; a local path (the adapter was trained on a folder) only by its folder's name.
            let isPath = base.hasPrefix("/") || base.hasPrefix(".") || base.hasPrefix("~")
                || base.filter { $0 == "/" }.count != 1
            pairs.append(("base_model", .string(isPath ? HubCache.publicName(of: base) : base)))
            card = .object(pairs)
        }
        return PublishMetadata.Source(card: card, config: model.config, generationConfig: generationConfig,
                                      folderName: HubCache.publicName(of: folder.path), override: override, name: name)
    }
}
