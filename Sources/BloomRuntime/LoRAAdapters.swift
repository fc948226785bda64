import BloomArch
import BloomCore
import BloomGGUF
import CKernels

/// A LoRA adapter GGUF to apply at load time (`--lora FILE`, `--lora-scaled FILE SCALE`).
public struct LoRARequest: Sendable, Equatable {
    public var path: String
    /// The user's scale (llama.cpp's adapter scale): 1 for `--lora`.
    public var scale: Float

    public init(path: String, scale: Float = 1) {
        self.path = path
        self.scale = scale
    }
}

/// One adapter's pair on one linear layer, as the kernels take it: `y += (x·Aᵀ)·B'ᵀ` with A [r, in] and
/// B' = s·B [out, r], both f32 copies owned here (the mapped base is never touched).
final class LoRAPair: @unchecked Sendable {
    let a: bk_weight      // [r, in]
    let b: bk_weight      // [out, r], scale folded in
    let rank: Int
    private let storage: [FloatBuffer]

    init(a: FloatBuffer, b: FloatBuffer, rank: Int, inFeatures: Int, outFeatures: Int) {
        self.a = bk_weight(data: UnsafeRawPointer(a.pointer), type: Int32(GGMLType.F32.rawValue), rows: Int64(rank),
                           cols: Int64(inFeatures))
        self.b = bk_weight(data: UnsafeRawPointer(b.pointer), type: Int32(GGMLType.F32.rawValue),
                           rows: Int64(outFeatures), cols: Int64(rank))
        self.rank = rank
        storage = [a, b]
    }
}

/// Reads LoRA adapter GGUF files (llama.cpp's layout, checked by `BloomLoRAProfile.read` against the model's
/// hyper-parameters) into f32 pairs with llama.cpp's scale folded into B.
enum LoRAAdapters {
    /// Types a factor may be stored in (dequantized to f32 once, at load).
    static let factorTypes: [GGMLType] = [.F32, .F16, .BF16, .Q8_0]

    /// The pairs of every request, by base weight name (`blk.0.attn_qkv.weight`), in request order.
    /// - Throws: `.loraAdapterFile` (or `.invalidModel` for a factor's type or size) naming the file and the tensor
    ///   or key.
    static func load(_ requests: [LoRARequest], _ h: BloomHyperParameters) throws -> [String: [LoRAPair]] {
        var pairs: [String: [LoRAPair]] = [:]
        for request in requests {
            do {
                for (weight, pair) in try load(request, h) { pairs[weight, default: []].append(pair) }
            } catch let error as BloomError {
                throw error.at(path: request.path)
            }
        }
        return pairs
    }

    private static func load(_ request: LoRARequest, _ h: BloomHyperParameters) throws -> [(String, LoRAPair)] {
        let file = try BloomLoRAProfile.read(try GGUFFile(path: request.path), model: h)
        return try file.pairs.map { p in
            let s = file.scale(of: p, userScale: request.scale)
            let a = try dequantize(p.a), b = try dequantize(p.b)
            for i in 0..<(p.outFeatures * p.rank) { b.pointer[i] *= s }
            return (p.weight, LoRAPair(a: a, b: b, rank: p.rank, inFeatures: p.inFeatures, outFeatures: p.outFeatures))
        }
    }

    /// A factor's values as f32, row by row through the kernels' own dequantizer.
    private static func dequantize(_ t: GGUFTensor) throws -> FloatBuffer {
        guard factorTypes.contains(t.type) else {
            throw BloomError(.invalidModel,
                             "tensor '\(t.name)' is \(t.type.name); adapter factors are f32, f16, bf16 or q8_0",
                             location: t.name)
        }
        let (cols, rows) = (t.ne[0], t.ne[1])
        let rowBytes = bk_row_bytes(Int32(t.type.rawValue), Int64(cols))
        guard rowBytes > 0, rowBytes * rows == t.bytes.count, let base = t.bytes.baseAddress else {
            throw BloomError(.invalidModel,
                             "tensor '\(t.name)' holds \(t.bytes.count) bytes, not \(rows) rows of \(cols)"
                             + " \(t.type.name)",
                             location: t.name)
        }
        let out = try FloatBuffer(count: try Checked.multiply(rows, cols, "adapter size"), zeroed: false)
        var w = bk_weight(data: base, type: Int32(t.type.rawValue), rows: Int64(rows), cols: Int64(cols))
        for r in 0..<rows { bk_dequantize_row(&w, Int64(r), out.pointer + r * cols) }
        return out
    }
}
