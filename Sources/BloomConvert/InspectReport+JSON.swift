import BloomArch
import BloomCheckpoint
import BloomCore

extension InspectReport {
    /// `inspect --json`: one object with `path`, `kind`, `format`, `files`, `index` (sharded), `metadata`,
    /// `config`, `summary`, `parameters`, `bytes`, `dtypes` and `tensors` — every tensor of every file, named
    /// exactly as stored, with `dtype`, `shape`, `file` (basename), absolute `offset` and `nbytes` (plus the pickle's
    /// `storage_key`, `storage_offset`, `storage_numel`, `stride`, `location` for PyTorch files).
    public func json() -> JSONValue {
        var out: [(String, JSONValue)] = [
            ("path", .string(path)),
            ("kind", .string(kind.rawValue)),
            ("format", .string(checkpoint.format.rawValue)),
            ("files", .object(checkpoint.files.map { (Paths.basename($0.path), fileJSON($0)) })),
        ]
        if let index = checkpoint.index {
            out.append(("index", .object([
                ("file", .string(Paths.basename(index.path))),
                ("metadata", index.metadata),
                ("weight_map", .object(index.weightMap.map { ($0.tensor, .string($0.file)) })),
            ])))
        }
        out.append(("metadata", .object(mergedMetadata.map { ($0.key, .string($0.value)) })))
        if let config { out.append(("config", config)) }
        if let summary = summaryJSON() { out.append(("summary", summary)) }
        out += [
            ("parameters", .int(parameterCount)),
            ("bytes", .int(byteCount)),
            ("dtypes", .object(dtypeTotals.map {
                ($0.dtype.rawValue,
                 .object([("tensors", .int($0.tensors)), ("parameters", .int($0.parameters)),
                          ("bytes", .int($0.bytes))]))
            })),
            ("tensors", .array(checkpoint.files.flatMap(tensorsJSON))),
        ]
        return .object(out)
    }

    /// The safetensors `__metadata__` of all files (first value wins; shards normally agree).
    public var mergedMetadata: [(key: String, value: String)] {
        var seen = Set<String>()
        var out: [(key: String, value: String)] = []
        for case .safetensors(let file) in checkpoint.files {
            for pair in file.metadata where seen.insert(pair.key).inserted { out.append(pair) }
        }
        return out
    }

    private func fileJSON(_ file: CheckpointFile) -> JSONValue {
        switch file {
        case .safetensors(let f):
            return .object([
                ("size", .int(f.mapped.count)),
                ("header_len", .int(f.headerLength)),
                ("metadata", .object(f.metadata.map { ($0.key, .string($0.value)) })),
            ])
        case .pytorch(let f):
            return .object([
                ("size", .int(f.mapped.count)),
                ("archive_prefix", .string(f.prefix)),
                ("entries", .array(f.entries.map {
                    .object([("name", .string($0.name)), ("offset", .int($0.dataOffset)), ("size", .int($0.size))]
                            + ($0.isDeflated ? [("deflated", .bool(true))] : []))
                })),
            ])
        }
    }

    private func tensorsJSON(_ file: CheckpointFile) -> [JSONValue] {
        func common(_ t: TensorView) -> [(String, JSONValue)] {
            [("name", .string(t.name)), ("dtype", .string(t.dtype.rawValue)),
             ("shape", .array(t.shape.map { .int($0) })),
             ("file", .string(Paths.basename(t.file))), ("offset", .int(t.fileOffset)), ("nbytes", .int(t.byteCount))]
        }
        switch file {
        case .safetensors(let f):
            return f.tensors.map { .object(common($0)) }
        case .pytorch(let f):
            return zip(f.tensors, f.records).map { t, r in
                .object(common(t) + [
                    ("storage_key", .string(r.storageKey)), ("storage_offset", .int(r.storageOffset)),
                    ("storage_numel", .int(r.storageElements)), ("stride", .array(r.strides.map { .int($0) })),
                    ("location", .string(r.location)),
                ])
            }
        }
    }

    /// The main fields: the BLOOM architecture of a model, the LoRA settings of an adapter.
    private func summaryJSON() -> JSONValue? {
        let n: (String, JSONValue) = ("n_tensors", .int(checkpoint.tensors.count))
        if let c = bloomConfig {
            func id(_ v: Int?) -> JSONValue { v.map { .int($0) } ?? .null }
            return .object([
                ("model_type", config?["model_type"] ?? .null),
                ("vocab_size", .int(c.vocabSize)), ("hidden_size", .int(c.hiddenSize)), ("n_layer", .int(c.layerCount)),
                ("n_head", .int(c.headCount)), ("head_dim", .int(c.headDim)),
                ("layer_norm_epsilon", .float(c.layerNormEpsilon)),
                ("bos_token_id", id(c.bosTokenID)), ("eos_token_id", id(c.eosTokenID)),
                ("pad_token_id", id(c.padTokenID)),
                ("unk_token_id", id(c.unkTokenID)), ("dtype", c.dtype.map { .string($0) } ?? .null),
                ("tie_word_embeddings", .bool(c.tieWordEmbeddings)),
                ("apply_residual_connection_post_layernorm", .bool(c.applyResidualConnectionPostLayernorm)),
                ("lm_head", .string(model.map { $0.tensor(named: "lm_head.weight")?.name ?? "absent" } ?? "absent")),
                n,
            ])
        }
        if let adapter {
            let keys = ["peft_type", "base_model_name_or_path", "r", "lora_alpha", "target_modules", "bias",
                        "use_rslora", "use_dora", "fan_in_fan_out", "enable_lora", "rank_pattern", "alpha_pattern",
                        "modules_to_save", "init_lora_weights"]
            return .object(keys.map { ($0, adapter.config.json[$0] ?? .null) } + [
                ("layout", .string(adapter.layout.rawValue)),
                ("lora_modules", .int(adapter.modules.count)),
                ("replacements", .array(adapter.replacements.map { .string($0.name) })),
                n,
            ])
        }
        if let configProblem { return .object([("config_problem", .string(configProblem)), n]) }
        return nil
    }
}
