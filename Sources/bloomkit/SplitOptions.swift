import ArgumentParser
import BloomConvert
import BloomCore

/// `--split-max-size` / `--split-max-tensors`, shared by `convert` and `quantize`: llama.cpp's gguf-split layout.
struct SplitOptions: ParsableArguments {
    @Option(name: .customLong("split-max-size"), help: ArgumentHelp(
        "Write a gguf-split set (OUT-00001-of-0000N.gguf, …) with at most this much tensor data per part (e.g. 50G, "
            + "500M); llama.cpp loads it from the first part.", valueName: "SIZE"))
    var maxSize: String?

    @Option(name: .customLong("split-max-tensors"), help: ArgumentHelp(
        "Write a gguf-split set with at most N tensors per part.", valueName: "N"))
    var maxTensors: Int?

    func validate() throws {
        guard !UsageChecks.deferred else { return }
        guard maxSize == nil || maxTensors == nil else {
            throw ValidationError("give --split-max-size or --split-max-tensors, not both")
        }
        if let maxSize, (parsedSize ?? 0) < 1 {
            throw ValidationError("--split-max-size '\(maxSize)' is not a size such as 50G or 500MB")
        }
        if let maxTensors, maxTensors < 1 { throw ValidationError("--split-max-tensors must be at least 1") }
    }

    /// gguf-split's sizes: a number with K, M or G (decimal, 1000-based, as gguf-split reads them), or ByteCount's.
    var parsedSize: Int? {
        guard let maxSize else { return nil }
        if let last = maxSize.last, let scale = ["K": 1_000, "M": 1_000_000, "G": 1_000_000_000][String(last)],
           let n = Int(maxSize.dropLast()), n > 0 {
            let (v, overflow) = n.multipliedReportingOverflow(by: scale)
            return overflow ? nil : v
        }
        return ByteCount.parse(maxSize)
    }

    var limits: SplitLimits? {
        maxSize == nil && maxTensors == nil ? nil : SplitLimits(maxBytes: parsedSize, maxTensors: maxTensors)
    }
}
