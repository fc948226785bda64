import BloomCore

/// llama.cpp's names of its file types (`llama_ftype_name`, src/llama-model-loader.cpp), as llama-bench and
/// llama.cpp's loader print them: the `general.file_type` number → "Q4_K - Medium".
public enum LlamaFileTypeName {
    static let names: [UInt32: String] = [
        0: "all F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K - Medium",
        11: "Q3_K - Small", 12: "Q3_K - Medium", 13: "Q3_K - Large", 14: "Q4_K - Small", 15: "Q4_K - Medium",
        16: "Q5_K - Small", 17: "Q5_K - Medium", 18: "Q6_K", 21: "Q2_K - Small", 32: "BF16",
    ]

    /// The file type a file without `general.file_type` is taken for, from its most common tensor type (ties: the
    /// first in file order), as llama.cpp's loader guesses it.
    static let guesses: [GGMLType: UInt32] = [
        .F32: 0, .F16: 1, .BF16: 32, .Q4_0: 2, .Q4_1: 3, .Q5_0: 8, .Q5_1: 9, .Q8_0: 7, .Q2_K: 10, .Q3_K: 12,
        .Q4_K: 15, .Q5_K: 17, .Q6_K: 18,
    ]

    /// The name of file type `number` ("unknown, may not work" for one llama.cpp does not name either).
    public static func name(_ number: UInt32) -> String { names[number] ?? "unknown, may not work" }

    /// The name llama.cpp prints for a file: from `general.file_type` when it has one, else "(guessed) " and the
    /// file type of its most common tensor type (`tensorTypes`, in file order).
    public static func name(fileType: UInt32?, tensorTypes: [GGMLType]) -> String {
        if let fileType { return name(fileType) }
        var counts: [GGMLType: Int] = [:]
        var best: GGMLType?
        for t in tensorTypes {
            counts[t, default: 0] += 1
            if best == nil || counts[t]! > counts[best!]! { best = t }
        }
        return "(guessed) " + name(best.flatMap { guesses[$0] } ?? 0)
    }
}
