import BloomArch
import BloomCheckpoint
import BloomCore
import BloomLoRA
import Foundation

extension ConvertInput {
    /// Opens a Hugging Face BLOOM model folder (any layout the readers accept) and, if given, PEFT LoRA adapter
    /// folders merged on the fly in order (nothing is computed until the converter reads rows).
    /// - Parameters:
    ///   - folder: a model folder, hub id or hub-cache folder.
    ///   - adapters: adapter folders (adapter_config.json + adapter_model.safetensors or .bin).
    /// - Throws: reader, config, tokenizer and merge errors, naming the file.
    public init(folder: String, adapters adapterPaths: [String] = []) throws {
        let model: ModelFolder
        var tensors: [SourceTensor]
        var tied: Bool
        var warnings: [String] = []
        var provenance: [String] = []
        if adapterPaths.isEmpty {
            model = try ModelFolder(path: folder)
            tensors = model.tensors.map(SourceTensor.releasingPages)
            tied = model.tiesWordEmbeddings
        } else {
            // The same merge `bloomkit merge` writes, streamed (pages released as rows are read).
            let (base, merged) = try MergePipeline.open(base: folder, adapters: adapterPaths)
            model = base
            tensors = merged.tensors
            tied = model.tiesWordEmbeddings && !merged.untiedEmbeddings
            warnings = merged.warnings
            provenance = merged.adapters.map { a in
                let scales = Set(a.updates.map(\.scaling)).sorted().map { "\($0)" }.joined(separator: ",")
                return "\(a.name) scale=\(scales.isEmpty ? "none" : scales)"
            }
        }
        let config = try BloomConfig(json: model.config, path: model.configPath)
        guard !config.applyResidualConnectionPostLayernorm else {
            throw BloomError(.unsupported, "apply_residual_connection_post_layernorm is true; llama.cpp's BLOOM graph does not support it",
                             path: model.configPath)
        }
        let hyper: BloomHyperParameters
        do {
            hyper = try BloomHyperParameters(config: config, seqLength: model.config["seq_length"]?.int)
        } catch let error as BloomError {
            throw error.at(path: model.configPath)
        }
        let name = URL(fileURLWithPath: model.path).lastPathComponent
        self.init(name: model.config["_name_or_path"]?.string.flatMap { $0.isEmpty ? nil : $0 } ?? name,
                  source: model.path, adapters: provenance, hyperParameters: hyper, tiedOutput: tied,
                  vocabulary: try ConvertVocabulary(folder: model.path, vocabSize: config.vocabSize, config: model.config),
                  tensors: tensors)
        self.warnings = warnings
    }
}
