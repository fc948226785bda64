import BloomGGUF

/// The keys llama-quantize adds to a file quantized with `--imatrix` (tools/quantize/quantize.cpp; written as its
/// kv overrides are: strings cut to 127 bytes, integers as UINT32).
enum ImportanceKeys {
    static let file = "quantize.imatrix.file"
    static let dataset = "quantize.imatrix.dataset"
    static let entriesCount = "quantize.imatrix.entries_count"
    static let chunksCount = "quantize.imatrix.chunks_count"

    static func record(file path: String, _ matrix: ImportanceMatrix, in metadata: inout GGUFMetadata) {
        func cut(_ s: String) -> String { String(decoding: s.utf8.prefix(127), as: UTF8.self) }
        metadata.set(file, .string(cut(path)))
        if let first = matrix.datasets.first { metadata.set(dataset, .string(cut(first))) }
        metadata.set(entriesCount, .uint32(UInt32(clamping: matrix.entries.count)))
        if matrix.chunkCount > 0 { metadata.set(chunksCount, .uint32(UInt32(clamping: matrix.chunkCount))) }
    }
}
