import BloomCore
import Foundation

extension Fixtures {
    /// adapters/rslora-a (rsLoRA with rank and alpha patterns, `bias` "lora_only") without its trained biases, which a
    /// GGUF LoRA adapter cannot hold: the same lora_A/lora_B bytes and config with `bias` "none", written into `dir`.
    /// - Returns: the new adapter folder.
    public static func rsLoRAWithoutBiases(in dir: TempDir) throws -> String {
        let source = try path("adapters/rslora-a")
        let raw = try Data(contentsOf: URL(fileURLWithPath: source + "/adapter_model.safetensors"))
        let headerLength = Int(raw.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = try raw.subdata(in: 8..<(8 + headerLength)).withUnsafeBytes { try JSONParser().parse($0) }
        var kept: [(String, JSONValue)] = []
        var data = Data()
        for (name, info) in header.object ?? [] where name.contains(".lora_") {
            guard let range = info["data_offsets"]?.array?.compactMap(\.int), range.count == 2 else { continue }
            let offsets = JSONValue.array([.int(data.count), .int(data.count + range[1] - range[0])])
            let entries = (info.object ?? []).map { $0.0 == "data_offsets" ? ($0.0, offsets) : $0 }
            kept.append((name, .object(entries)))
            data += raw.subdata(in: (8 + headerLength + range[0])..<(8 + headerLength + range[1]))
        }
        var headerBytes = Data(JSONWriter.string(.object(kept)).utf8)
        headerBytes += Data(repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)
        let folder = try dir.folder("rslora-a-no-bias")
        var file = Data((0..<8).map { UInt8(truncatingIfNeeded: UInt64(headerBytes.count) >> (8 * $0)) })
        file += headerBytes + data
        try file.write(to: URL(fileURLWithPath: folder + "/adapter_model.safetensors"))
        let config = try json(atPath: source + "/adapter_config.json")
        let edited = JSONValue.object((config.object ?? []).map { $0.0 == "bias" ? ("bias", .string("none")) : $0 })
        try Data(JSONWriter.string(edited).utf8).write(to: URL(fileURLWithPath: folder + "/adapter_config.json"))
        return folder
    }
}
