import BloomCore

/// Error codes of the checkpoint readers (tests match these; messages say the rest).
extension BloomError.Code {
    // safetensors (one code per check of the reference reader, tensor.rs)
    /// The header length N is above `SafetensorsFile.maxHeaderLength`.
    public static let safetensorsHeaderTooLarge: Self = "safetensors-header-too-large"
    /// The file is shorter than 8 bytes, or 8 + N runs past its end.
    public static let safetensorsHeaderLength: Self = "safetensors-header-length"
    /// The header is not the expected JSON object (bad entry, unknown dtype, non-string metadata…).
    public static let safetensorsHeader: Self = "safetensors-invalid-header"
    /// data_offsets are not contiguous from 0: a gap, an overlap or END < BEGIN.
    public static let safetensorsOffsets: Self = "safetensors-invalid-offsets"
    /// END − BEGIN differs from shape × dtype size.
    public static let safetensorsTensorSize: Self = "safetensors-tensor-size"
    /// The data buffer does not end exactly at the end of the file.
    public static let safetensorsIncompleteBuffer: Self = "safetensors-incomplete-buffer"

    // shard indexes (model.safetensors.index.json, pytorch_model.bin.index.json)
    /// The index is not `{"weight_map": {name: file}}`, names a file outside its folder, or disagrees with the shards.
    public static let shardIndex: Self = "shard-index"
    /// One tensor name appears twice (two shards, or with and without a prefix).
    public static let duplicateTensor: Self = "duplicate-tensor"

    // torch zip archives
    /// The zip structure is malformed (no end record, bad signatures, sizes past the end…).
    public static let zipFormat: Self = "zip-format"
    /// A zip feature bloomkit does not read (encryption, multi-disk, a compression method other than store/deflate).
    public static let zipUnsupported: Self = "zip-unsupported"
    /// A deflated entry does not inflate to its declared size and CRC.
    public static let zipInflate: Self = "zip-inflate"
    /// A record torch writes is missing from the archive (data.pkl, data/<key>).
    public static let torchMissingRecord: Self = "torch-missing-record"
    /// A pre-1.6 (non-zip) torch file: refused with re-save instructions.
    public static let torchLegacyFormat: Self = "torch-legacy-format"
    /// A tensor's storage, size, stride or offset is inconsistent.
    public static let torchTensor: Self = "torch-invalid-tensor"

    // the restricted unpickler
    /// A GLOBAL outside the allow-list (e.g. `posix.system`).
    public static let pickleForbiddenGlobal: Self = "pickle-forbidden-global"
    /// An opcode outside the allowed set (protocol 2 subset of torch's weights_only unpickler).
    public static let pickleForbiddenOpcode: Self = "pickle-forbidden-opcode"
    /// A well-formed opcode used in a way a state dict never does (wrong argument types, stack underflow…).
    public static let pickleMalformed: Self = "pickle-malformed"

    // folders
    /// A file the folder layout needs is absent (config.json, weights, adapter_config.json…).
    public static let missingFile: Self = "missing-file"
    /// A tensor the caller required is absent.
    public static let missingTensor: Self = "missing-tensor"
    /// A required tensor has another shape than expected.
    public static let tensorShape: Self = "tensor-shape"
    /// adapter_config.json is malformed (wrong types, r ≤ 0…).
    public static let adapterConfig: Self = "adapter-config"
    /// The adapter holds no LoRA tensors (the alpaca-lora empty-adapter bug).
    public static let adapterEmpty: Self = "adapter-empty"
    /// A PEFT type or feature bloomkit does not merge.
    public static let adapterUnsupported: Self = "adapter-unsupported"
    /// LoRA tensors with inconsistent names or shapes.
    public static let adapterTensors: Self = "adapter-tensors"
    /// A hub id or cache folder that cannot be resolved offline.
    public static let hubCache: Self = "hub-cache"
}
