import Foundation

/// GGUF metadata keys of a BLOOM file: llama.cpp's (with the value types its loader requires) and bloomkit's own.
/// See Formats/gguf-bloom-profile.md.
public enum BloomGGUFKeys {
    public static let architecture = "general.architecture"                 // STRING "bloom"
    public static let type = "general.type"                                 // STRING "model"
    public static let name = "general.name"                                 // STRING
    public static let fileType = "general.file_type"                        // UINT32, llama_ftype
    public static let quantizationVersion = "general.quantization_version"  // UINT32 2

    /// Recommended sampler settings (llama.cpp's common defaults read them when no flag is given; gguf-py writes them
    /// from generation_config.json).
    public static let samplingSequence = "general.sampling.sequence"            // STRING, sampler names joined by ";"
    public static let samplingTopK = "general.sampling.top_k"                   // INT32
    public static let samplingTopP = "general.sampling.top_p"                   // FLOAT32
    public static let samplingMinP = "general.sampling.min_p"                   // FLOAT32
    public static let samplingXTCProbability = "general.sampling.xtc_probability"  // FLOAT32
    public static let samplingXTCThreshold = "general.sampling.xtc_threshold"   // FLOAT32
    public static let samplingTemp = "general.sampling.temp"                    // FLOAT32
    public static let samplingPenaltyLastN = "general.sampling.penalty_last_n"  // INT32
    public static let samplingPenaltyRepeat = "general.sampling.penalty_repeat" // FLOAT32
    public static let samplingMirostat = "general.sampling.mirostat"            // INT32
    public static let samplingMirostatTau = "general.sampling.mirostat_tau"     // FLOAT32
    public static let samplingMirostatEta = "general.sampling.mirostat_eta"     // FLOAT32

    public static let contextLength = "bloom.context_length"                // UINT32
    public static let embeddingLength = "bloom.embedding_length"            // UINT32
    public static let feedForwardLength = "bloom.feed_forward_length"       // UINT32
    public static let blockCount = "bloom.block_count"                      // UINT32
    public static let headCount = "bloom.attention.head_count"              // UINT32
    public static let headCountKV = "bloom.attention.head_count_kv"         // UINT32
    public static let layerNormEpsilon = "bloom.attention.layer_norm_epsilon"  // FLOAT32

    public static let tokenizerModel = "tokenizer.ggml.model"               // STRING "gpt2"
    public static let tokenizerPre = "tokenizer.ggml.pre"                   // STRING "bloom"
    public static let tokens = "tokenizer.ggml.tokens"                      // ARRAY[STRING]
    public static let tokenType = "tokenizer.ggml.token_type"               // ARRAY[INT32]
    public static let merges = "tokenizer.ggml.merges"                      // ARRAY[STRING], "a b"
    public static let bosTokenID = "tokenizer.ggml.bos_token_id"            // UINT32
    public static let eosTokenID = "tokenizer.ggml.eos_token_id"            // UINT32
    public static let unknownTokenID = "tokenizer.ggml.unknown_token_id"    // UINT32
    public static let paddingTokenID = "tokenizer.ggml.padding_token_id"    // UINT32
    public static let addBOS = "tokenizer.ggml.add_bos_token"               // BOOL
    public static let addEOS = "tokenizer.ggml.add_eos_token"               // BOOL
    /// A Jinja chat template (llama-server, ollama, transformers' apply_chat_template read it).
    public static let chatTemplate = "tokenizer.chat_template"              // STRING

    /// The Alpaca prompt without an input; `{instruction}` is substituted.
    public static let promptTemplateNoInput = "bloomkit.prompt_template.no_input"      // STRING
    /// The Alpaca prompt with an input; `{instruction}` and `{input}` are substituted.
    public static let promptTemplateWithInput = "bloomkit.prompt_template.with_input"  // STRING
    /// Where the weights came from (the source folder's name).
    public static let source = "bloomkit.source"                            // STRING
    /// Adapters merged in, each "NAME scale=S" in merge order.
    public static let adapters = "bloomkit.adapters"                        // ARRAY[STRING]
    /// XXH64 (seed 0) of each tensor's bytes, in tensor order.
    public static let tensorChecksums = "bloomkit.tensor_checksums"         // ARRAY[UINT64]
    /// The checksum algorithm's name, "xxh64".
    public static let checksumAlgorithm = "bloomkit.checksum_algorithm"     // STRING

    /// llama.cpp's default for BPE vocabularies is add_bos false; bloomkit writes it explicitly.
    public static let gpt2 = "gpt2"
    public static let bloomPre = "bloom"
    public static let xxh64 = "xxh64"
}

/// Token types of `tokenizer.ggml.token_type` (llama_token_type).
public enum GGUFTokenType: Int32, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}
