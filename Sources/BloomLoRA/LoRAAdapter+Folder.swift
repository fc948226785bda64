import BloomCheckpoint
import BloomCore

extension LoRAAdapter {
    /// Reads a PEFT adapter folder: adapter_config.json and adapter_model.safetensors (preferred, as PEFT does) or
    /// adapter_model.bin.
    public init(folder: String) throws {
        let configPath = folder + "/adapter_config.json"
        let config: JSONValue
        do {
            config = try JSONParser().parse(MappedFile(path: configPath).bytes)
        } catch let error as BloomError {
            throw error.at(path: configPath)
        }
        let safetensors = folder + "/adapter_model.safetensors"
        let views = (try? MappedFile(path: safetensors)) != nil
            ? try SafetensorsFile(path: safetensors).tensors
            : try Checkpoint.open(folder + "/adapter_model.bin").tensors
        try self.init(name: folder, config: config, tensors: views.map(SourceTensor.init))
    }
}
