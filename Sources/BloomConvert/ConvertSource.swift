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
        let model = try ModelFolder(path: folder)
        let config = try BloomConfig(json: model.config, path: model.configPath)
        guard !config.applyResidualConnectionPostLayernorm else {
            throw BloomError(.unsupported, "apply_residual_connection_post_layernorm is true; llama.cpp's BLOOM graph does not support it",
                             path: model.configPath)
        }
        let hyper = try BloomHyperParameters(config: config, seqLength: model.config["seq_length"]?.int)
        var tensors = model.tensors.map(SourceTensor.init)
        var tied = model.tiesWordEmbeddings
        var provenance: [String] = []
        if !adapterPaths.isEmpty {
            let adapters = try adapterPaths.map(Self.openAdapter)
            let merged = try LoRAMerge.apply(adapters, to: MergeBase(tensors: tensors, tiedEmbeddings: tied, path: folder,
                                                                     nameOrPath: model.config["_name_or_path"]?.string))
            tensors = merged.tensors
            if merged.untiedEmbeddings { tied = false }
            provenance = adapters.map { a in
                let scales = Set(a.updates.map(\.scaling)).sorted().map { "\($0)" }.joined(separator: ",")
                return "\(a.name) scale=\(scales.isEmpty ? "none" : scales)"
            }
        }
        let name = URL(fileURLWithPath: model.path).lastPathComponent
        self.init(name: model.config["_name_or_path"]?.string.flatMap { $0.isEmpty ? nil : $0 } ?? name,
                  source: model.path, adapters: provenance, hyperParameters: hyper, tiedOutput: tied,
                  vocabulary: try ConvertVocabulary(folder: model.path, vocabSize: config.vocabSize), tensors: tensors)
    }

    /// Reads an adapter folder into a LoRAAdapter.
    static func openAdapter(_ path: String) throws -> LoRAAdapter {
        try LoRAAdapter(folder: AdapterFolder(path: path))
    }
}
