import ArgumentParser
import BloomRuntime

/// `--lora FILE` and `--lora-scaled FILE SCALE` (llama.cpp's flags): LoRA adapter GGUF files the runtime applies at
/// load time, for `generate`, `perplexity` and `bench`.
struct LoRAOptions: ParsableArguments {
    @Option(name: .customLong("lora"), help: ArgumentHelp(
        "A LoRA adapter GGUF (bloomkit convert ADAPTER_DIR) applied with scale 1 (may repeat).", valueName: "FILE"))
    var files: [String] = []

    @Option(name: .customLong("lora-scaled"), parsing: .upToNextOption, help: ArgumentHelp(
        "A LoRA adapter GGUF applied with a scale (may repeat).", valueName: "FILE SCALE"))
    var scaled: [String] = []

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        _ = try parsedScaled()
    }

    /// Every adapter: the --lora files, then the --lora-scaled ones.
    var requests: [LoRARequest] {
        files.map { LoRARequest(path: $0) } + ((try? parsedScaled()) ?? [])
    }

    private func parsedScaled() throws -> [LoRARequest] {
        guard scaled.count % 2 == 0 else { throw ValidationError("--lora-scaled takes a file and a scale") }
        return try stride(from: 0, to: scaled.count, by: 2).map { i in
            guard let scale = Float(scaled[i + 1]), scale.isFinite else {
                throw ValidationError("--lora-scaled \(scaled[i]): the scale '\(scaled[i + 1])' is not a number")
            }
            return LoRARequest(path: scaled[i], scale: scale)
        }
    }
}
