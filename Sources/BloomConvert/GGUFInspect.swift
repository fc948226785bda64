import BloomArch
import BloomCore
import BloomGGUF

/// `inspect` for GGUF files: metadata (long arrays summarized) and tensors (GGUF name, ggml type, ne and shape,
/// offset, bytes), as JSON or as text. The inspect command calls this for files that start with `GGUF`.
public enum GGUFInspect {
    /// Arrays longer than this are shown as their first elements plus a count.
    public static let arrayPreview = 8

    /// Whether the file at `path` starts with the GGUF magic.
    public static func isGGUF(path: String) -> Bool {
        guard let file = try? MappedFile(path: path), file.count >= 4 else { return false }
        return file.bytes.loadUnaligned(as: UInt32.self) == GGUFLimits.magic.littleEndian
    }

    /// `{format: "gguf", path, version, alignment, data_offset, file_size, metadata: [{key, type, value}],
    /// tensors: [{name, type, ne, shape, offset, nbytes}]}`; `offset` is absolute in the file.
    public static func json(_ file: GGUFFile) -> JSONValue {
        let metadata: [JSONValue] = file.metadata.entries.map { key, value in
            .object([("key", .string(key)), ("type", .string(value.typeName)), ("value", summary(value))])
        }
        let tensors: [JSONValue] = file.tensors.map { t in
            .object([("name", .string(t.name)), ("type", .string(t.type.name)), ("ne", .array(t.ne.map { .int($0) })),
                     ("shape", .array(t.shape.map { .int($0) })), ("offset", .int(t.fileOffset)), ("nbytes", .int(t.byteCount))])
        }
        return .object([
            ("format", .string("gguf")), ("path", .string(file.path)), ("version", .int(file.version)),
            ("alignment", .int(file.alignment)), ("data_offset", .int(file.dataOffset)), ("file_size", .int(file.file.count)),
            ("metadata", .array(metadata)), ("tensors", .array(tensors)),
        ] + (adapterSummary(file).map { [("adapter", $0)] } ?? []))
    }

    /// For a LoRA adapter file: `{pairs, ranks, alpha, scale, weights}` (nil for other files or when its layout does
    /// not hold; `verify` says why).
    static func adapterSummary(_ file: GGUFFile) -> JSONValue? {
        guard (try? file.metadata.string(BloomGGUFKeys.type)) == BloomLoRAProfile.generalType,
              let adapter = try? BloomLoRAProfile.read(file, model: nil) else { return nil }
        let ranks = Set(adapter.pairs.map(\.rank)).sorted()
        let scale = adapter.alpha == 0 ? "1 (scales folded into lora_b)" : "\(adapter.alpha)/r"
        return .object([
            ("pairs", .int(adapter.pairs.count)), ("ranks", .array(ranks.map { .int($0) })),
            ("alpha", .number("\(adapter.alpha)")), ("scale", .string(scale)),
            ("weights", .array(adapter.pairs.map { .string($0.weight) })),
        ])
    }

    /// The same as lines of text.
    public static func text(_ file: GGUFFile) -> String {
        var lines = ["\(file.path): GGUF v\(file.version), \(file.metadata.count) keys, \(file.tensors.count) tensors, "
            + "alignment \(file.alignment), data at \(file.dataOffset), \(ByteCount.format(file.file.count))"]
        if case .object(let a)? = adapterSummary(file) {
            let value = Dictionary(a, uniquingKeysWith: { x, _ in x })
            func show(_ key: String) -> String { JSONWriter.string(value[key] ?? .null) }
            lines.append("LoRA adapter: \(show("pairs")) pairs, ranks \(show("ranks")), alpha \(show("alpha")),"
                         + " scale \(value["scale"]?.string ?? "")")
        }
        lines.append("metadata:")
        for (key, value) in file.metadata.entries {
            lines.append("  \(key) [\(value.typeName)] = \(JSONWriter.string(summary(value)))")
        }
        lines.append("tensors:")
        let width = file.tensors.map(\.name.count).max() ?? 0
        for t in file.tensors {
            let name = t.name + String(repeating: " ", count: width - t.name.count)
            let type = t.type.name + String(repeating: " ", count: max(0, 5 - t.type.name.count))
            lines.append("  \(name)  \(type)  ne \(t.ne)  shape \(t.shape)  @\(t.fileOffset)  \(ByteCount.format(t.byteCount))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A split set: one part as `json(_:)` of that file; several as `{format: "gguf-split", path, parts: [{path,
    /// file_size, data_offset, tensors}], metadata (the first part's), tensors: [{…, part, offset}]}`.
    public static func json(_ set: GGUFSplitSet) -> JSONValue {
        guard set.parts.count > 1 else { return json(set.parts[0]) }
        let parts: [JSONValue] = set.parts.map { p in
            .object([("path", .string(p.path)), ("file_size", .int(p.file.count)), ("data_offset", .int(p.dataOffset)),
                     ("tensors", .int(p.tensors.count))])
        }
        var tensors: [JSONValue] = []
        for (k, part) in set.parts.enumerated() {
            for t in part.tensors {
                tensors.append(.object([("name", .string(t.name)), ("type", .string(t.type.name)),
                                        ("ne", .array(t.ne.map { .int($0) })),
                                        ("shape", .array(t.shape.map { .int($0) })),
                                        ("part", .int(k + 1)), ("offset", .int(t.fileOffset)),
                                        ("nbytes", .int(t.byteCount))]))
            }
        }
        guard case .object(let first) = json(set.parts[0]), let metadata = first.first(where: { $0.0 == "metadata" })
        else { return .null }
        return .object([("format", .string("gguf-split")), ("path", .string(set.path)), ("parts", .array(parts)),
                        metadata, ("tensors", .array(tensors))])
    }

    /// The same as lines of text: each part's report, under a line naming the set.
    public static func text(_ set: GGUFSplitSet) -> String {
        guard set.parts.count > 1 else { return text(set.parts[0]) }
        let total = set.parts.reduce(0) { $0 + $1.file.count }
        return "\(set.path): gguf-split set of \(set.parts.count) parts, \(set.tensors.count) tensors, "
            + "\(ByteCount.format(total))\n" + set.parts.map(text).joined()
    }

    /// A value as JSON; arrays longer than `arrayPreview` become `{count, first: [...]}`.
    static func summary(_ value: GGUFValue) -> JSONValue {
        switch value {
        case .array(let a):
            let shown = (0..<min(a.count, arrayPreview)).map { summary(a.element($0)) }
            if a.count <= arrayPreview { return .array(shown) }
            return .object([("count", .int(a.count)), ("first", .array(shown))])
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .float32(let f): return f.isFinite ? .number("\(f)") : .null
        case .float64(let d): return .float(d)
        case .uint64(let u): return .int(u)
        default: return .int(value.integer ?? 0)
        }
    }
}
