import BloomCore
import BloomGGUF

/// How `convert` and `quantize` cut their output into a gguf-split set (llama.cpp's `llama-gguf-split --split`
/// rules): tensors stay in order; with `maxTensors`, a new part starts every `maxTensors` tensors; with `maxBytes`,
/// a new part starts when the next tensor's padded bytes would take the part's tensor data past it (a tensor larger
/// than the limit gets a part of its own). Headers are not counted, as in gguf-split.
public struct SplitLimits: Sendable, Equatable {
    /// Largest tensor data per part (`--split-max-size`).
    public var maxBytes: Int?
    /// Most tensors per part (`--split-max-tensors`).
    public var maxTensors: Int?

    public init(maxBytes: Int? = nil, maxTensors: Int? = nil) {
        self.maxBytes = maxBytes
        self.maxTensors = maxTensors
    }

    /// The tensor ranges of each part.
    /// - Throws: `.invalidArgument` for a limit below 1, or a set of more parts than `split.count` (UINT16) holds.
    func parts(_ tensors: [GGUFTensorInfo]) throws -> [Range<Int>] {
        if let maxBytes, maxBytes < 1 {
            throw BloomError(.invalidArgument, "the split size \(maxBytes) is below 1 byte")
        }
        if let maxTensors, maxTensors < 1 {
            throw BloomError(.invalidArgument, "the split tensor count \(maxTensors) is below 1")
        }
        var ranges: [Range<Int>] = []
        var start = 0
        var bytes = 0
        for (i, t) in tensors.enumerated() {
            let padded = try GGUFLimits.pad(t.byteCount, GGUFLimits.defaultAlignment)
            let byCount = maxTensors.map { i > start && (i - start) % $0 == 0 } ?? false
            let bySize = maxBytes.map { i > start && bytes > $0 - padded } ?? false
            if byCount || bySize {
                ranges.append(start..<i)
                start = i
                bytes = 0
            }
            bytes += padded
        }
        ranges.append(start..<tensors.count)
        guard ranges.count <= Int(UInt16.max) else {
            throw BloomError(.invalidArgument, "the limits give \(ranges.count) parts, more than a split set's "
                                 + "\(UInt16.max)")
        }
        return ranges
    }

    /// The parts' common prefix: the output path without a trailing ".gguf".
    static func prefix(of path: String) -> String {
        path.hasSuffix(".gguf") ? String(path.dropLast(5)) : path
    }
}
