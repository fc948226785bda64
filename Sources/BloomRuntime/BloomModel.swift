import BloomArch
import BloomCore
import BloomGGUF
import CKernels

/// A BLOOM model whose weights are views into a memory-mapped GGUF file (no copies): llama.cpp's BLOOM graph
/// (src/models/bloom.cpp; tensors as Formats/gguf-bloom-profile.md lists them), which is transformers'
/// `BloomForCausalLM` with `[all Q; all K; all V]` rows.
///
/// The loader requires every tensor with the `ne` and a type the kernels compute with, and refuses any other
/// tensor, as llama.cpp's loader does.
public final class BloomModel: @unchecked Sendable {
    public let hyperParameters: BloomHyperParameters
    /// The file's metadata (tokenizer, prompt template…).
    public let metadata: GGUFMetadata
    /// The file the weights live in (kept mapped while the model exists).
    public let path: String
    /// The file type as llama.cpp names it ("Q4_K - Medium"), from `general.file_type` (guessed without it).
    public let fileTypeName: String

    let tokenEmbedding: Weight      // [vocab, hidden]
    let embeddingNorm: Norm         // [hidden]
    let blocks: [Block]
    let outputNorm: Norm            // [hidden]
    let output: Weight              // [vocab, hidden]; token_embd when the file has no output.weight (tied head)
    /// ALiBi slope per head.
    let slopes: [Float]
    let storage: AnyObject

    /// LoRA adapters applied at load time, in order (`--lora`): each adds `s·B·(A·x)` after its layer's product.
    public let adapters: [LoRARequest]
    /// The largest rank among the applied pairs (0 without adapters).
    let maxLoRARank: Int

    /// Maps `path` (a GGUF file, or the first part of a gguf-split set and its other parts) and binds every weight.
    /// - Parameter adapters: LoRA adapter GGUF files to apply at load time (the mapped base stays as it is).
    /// - Throws: the GGUF reader's errors (`.ggufSplitSet` for a set with a missing or foreign part), or
    ///   `.invalidModel` naming the tensor that is missing, misshapen or of a type the runtime cannot compute with,
    ///   or the adapter file and tensor that does not fit the model.
    public convenience init(path: String, adapters: [LoRARequest] = []) throws {
        try self.init(file: GGUFSplitSet(path: path), adapters: adapters)
    }

    /// Binds every weight of an open GGUF file or split set (mapped, or decoded into memory); the model keeps it.
    /// - Throws: as `init(path:adapters:)`.
    public convenience init(file: GGUFSplitSet, adapters: [LoRARequest] = []) throws {
        let path = file.path
        do {
            try self.init(source: file, adapters: adapters)
        } catch let error as BloomError {
            throw error.at(path: path)
        }
    }

    init(source: some WeightSource, adapters: [LoRARequest] = []) throws {
        let hp = try BloomHyperParameters(metadata: source.metadata)
        hyperParameters = hp
        metadata = source.metadata
        path = source.path
        storage = source.storage
        fileTypeName = LlamaFileTypeName.name(
            fileType: try source.metadata.optional(BloomGGUFKeys.fileType, GGUFMetadata.uint32),
            tensorTypes: source.tensorNames.compactMap { source.rawTensor(named: $0)?.type })
        var loader = try WeightLoader(source: source, hyperParameters: hp)
        let lora = try LoRAAdapters.load(adapters, hp)
        self.adapters = adapters
        maxLoRARank = lora.values.joined().map(\.rank).max() ?? 0
        func linear(_ kind: BloomTensorKind, _ n: Int) throws -> Linear {
            var layer = try loader.linear(kind.ggufName(layer: n), kind.ggufName(layer: n, bias: true))
            layer.lora = lora[kind.ggufName(layer: n)] ?? []
            return layer
        }
        func norm(_ kind: BloomTensorKind, _ n: Int? = nil) throws -> Norm {
            try loader.norm(kind.ggufName(layer: n), kind.ggufName(layer: n, bias: true))
        }
        tokenEmbedding = try loader.weight(BloomTensorKind.tokenEmbedding.ggufName())
        embeddingNorm = try norm(.tokenEmbeddingNorm)
        blocks = try (0..<hp.blockCount).map { n in
            Block(attnNorm: try norm(.attentionNorm, n), qkv: try linear(.attentionQKV, n),
                  attnOutput: try linear(.attentionOutput, n), ffnNorm: try norm(.ffnNorm, n),
                  up: try linear(.ffnUp, n), down: try linear(.ffnDown, n))
        }
        outputNorm = try norm(.outputNorm)
        output = loader.hasSeparateOutput ? try loader.weight(BloomTensorKind.output.ggufName()) : tokenEmbedding
        try loader.refuseUnread()
        var s = [Float](repeating: 0, count: hp.headCount)
        bk_alibi_slopes(Int32(hp.headCount), &s)
        slopes = s
    }

    /// Whether the output head is the token embedding (no `output.weight` in the file).
    public var isOutputTied: Bool { output.data == tokenEmbedding.data }

    /// Bytes of weights one generated token reads: every matrix of every block, the output head and the norms
    /// (the token embedding only when it is the head).
    public var bytesPerToken: Int {
        var n = output.byteCount + embeddingNorm.byteCount + outputNorm.byteCount
        for b in blocks { n += b.byteCount }
        return n
    }

    /// The type of the output head.
    public var outputType: GGMLType { output.ggmlType }
}

/// One transformer block (pre-LN; the residual is the block input: `apply_residual_connection_post_layernorm`
/// false).
struct Block {
    let attnNorm: Norm        // [hidden]
    let qkv: Linear           // [3·hidden, hidden], rows Q|K|V, each head-major
    let attnOutput: Linear    // [hidden, hidden]
    let ffnNorm: Norm         // [hidden]
    let up: Linear            // [4·hidden, hidden]
    let down: Linear          // [hidden, 4·hidden]

    var byteCount: Int {
        attnNorm.byteCount + ffnNorm.byteCount + qkv.byteCount + attnOutput.byteCount + up.byteCount + down.byteCount
    }
}

/// A weight matrix as the kernels take it: rows of `cols` elements in a ggml type, in the mapped file.
struct Weight {
    let raw: bk_weight
    let byteCount: Int

    var data: UnsafeRawPointer? { raw.data }
    var ggmlType: GGMLType { GGMLType(rawValue: UInt32(raw.type)) ?? .F32 }
}

/// `y = x·Wᵀ + b`, plus `(x·Aᵀ)·B'ᵀ` for each LoRA pair applied at load time.
struct Linear {
    let weight: Weight               // [out, in]
    let bias: UnsafePointer<Float>   // [out]
    var lora: [LoRAPair] = []

    var byteCount: Int { weight.byteCount + Int(weight.raw.rows) * 4 }
}

/// LayerNorm's weight and bias.
struct Norm {
    let weight: UnsafePointer<Float>  // [n]
    let bias: UnsafePointer<Float>    // [n]
    let count: Int

    var byteCount: Int { count * 8 }
}
