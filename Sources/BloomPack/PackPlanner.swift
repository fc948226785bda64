import BloomArch
import BloomCheckpoint
import BloomCore
import BloomGGUF

/// A byte range of an input file and how to store it.
struct PlannedSegment {
    var name: String
    var codec: BKZCodec
    var range: Range<Int>
    /// For the summary: "f16", "bf16", "f32", "q8_0", …, "other" (headers, JSON, anything not a known tensor).
    var kind: String
    /// For the summary: the tensor's kind in the model, by its GGUF stem ("token_embd", "attn_qkv", …, a bias as
    /// "attn_qkv.bias"; "other" for a tensor BLOOM does not have, such as an adapter's); nil for what is no tensor.
    var tensorKind: String? = nil

    /// `tensorKind` of a tensor named `name` (a Hugging Face or a GGUF name).
    static func tensorKind(of name: String) -> String {
        guard let t = BloomTensorName(hf: name) ?? BloomTensorName(gguf: name) else { return "other" }
        return t.kind.ggufStem + (t.isBias ? ".bias" : "")
    }
}

/// Cuts one input file into segments: tensors of a safetensors or GGUF file (each with the codec its type wants),
/// the header and padding between them, or the whole file as one `.zstd` segment when it is neither (or does not
/// parse: packing is lossless for any bytes, a broken checkpoint included).
enum PackPlanner {
    static func segments(of file: MappedFile, name: String) -> [PlannedSegment] {
        let whole = [PlannedSegment(name: "data", codec: .zstd, range: 0..<file.count, kind: "other")]
        var tensors: [PlannedSegment]
        if name.hasSuffix(".safetensors"), let st = try? SafetensorsFile(mapped: file) {
            tensors = st.tensors.map {
                PlannedSegment(name: $0.name, codec: floatCodec($0.dtype),
                               range: $0.fileOffset..<($0.fileOffset + $0.byteCount),
                               kind: $0.dtype.rawValue.lowercased(), tensorKind: PlannedSegment.tensorKind(of: $0.name))
            }
        } else if file.count >= 4, file.bytes.loadUnaligned(as: UInt32.self) == GGUFLimits.magic.littleEndian,
                  let gguf = try? GGUFFile(file: file) {
            tensors = gguf.tensors.map {
                PlannedSegment(name: $0.name, codec: ggmlCodec($0.type),
                               range: $0.fileOffset..<($0.fileOffset + $0.byteCount), kind: $0.type.name,
                               tensorKind: PlannedSegment.tensorKind(of: $0.name))
            }
        } else {
            return file.count == 0 ? [] : whole
        }
        tensors.sort { $0.range.lowerBound < $1.range.lowerBound }
        var out: [PlannedSegment] = []
        var at = 0
        for t in tensors where !t.range.isEmpty {
            guard t.range.lowerBound >= at, t.range.upperBound <= file.count else { return whole }  // overlapping views
            if t.range.lowerBound > at {
                out.append(PlannedSegment(name: at == 0 ? "header" : "padding", codec: .zstd,
                                          range: at..<t.range.lowerBound, kind: "other"))
            }
            let whole = t.range.count - t.range.count % t.codec.unit
            out.append(PlannedSegment(name: t.name, codec: t.codec,
                                      range: t.range.lowerBound..<(t.range.lowerBound + whole), kind: t.kind,
                                      tensorKind: t.tensorKind))
            if whole < t.range.count {
                out.append(PlannedSegment(name: t.name + " (tail)", codec: .zstd,
                                          range: (t.range.lowerBound + whole)..<t.range.upperBound, kind: "other"))
            }
            at = t.range.upperBound
        }
        if at < file.count {
            out.append(PlannedSegment(name: at == 0 ? "header" : "trailer", codec: .zstd, range: at..<file.count,
                                      kind: "other"))
        }
        return out.filter { !$0.range.isEmpty }
    }

    static func floatCodec(_ dtype: DType) -> BKZCodec {
        switch dtype {
        case .F16: return .f16
        case .BF16: return .bf16
        case .F32: return .f32
        default: return .zstd
        }
    }

    /// ggml blocks whose leading f16 fields (d, or d and m) are split from the quants; K-quants field by field.
    static func ggmlCodec(_ type: GGMLType) -> BKZCodec {
        switch type {
        case .F16: return .f16
        case .BF16: return .bf16
        case .F32: return .f32
        case .Q8_0, .Q4_0, .Q5_0, .IQ4_NL: return .blocks(blockBytes: type.blockLayout.bytes, halfFields: 1)
        case .Q4_1, .Q5_1, .Q8_1: return .blocks(blockBytes: type.blockLayout.bytes, halfFields: 2)
        case .Q2_K, .Q3_K, .Q4_K, .Q5_K, .Q6_K: return .fields(type: Int(type.rawValue))
        default: return .zstd
        }
    }
}
