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
                     ("shape", .array(t.shape.map { .int($0) })), ("offset", .int(t.fileOffset)),
                     ("nbytes", .int(t.byteCount))])
        }
        return .object([
            ("format", .string("gguf")), ("path", .string(file.path)), ("version", .int(file.version)),
            ("alignment", .int(file.alignment)), ("data_offset", .int(file.dataOffset)),
            ("file_size", .int(file.file.count)),
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

    /// The same as aligned text: a header line, the metadata (key, type, value columns) and either every tensor
    /// (name, type, ne, shape, offset, size columns, as gguf-dump lists them) or, with `tensors` false, a summary:
    /// the tensor count and bytes per ggml type.
    public static func text(_ file: GGUFFile, tensors listTensors: Bool = true) -> String {
        var lines = ["\(file.path): GGUF v\(file.version), \(file.metadata.count) keys, \(file.tensors.count) tensors, "
            + "alignment \(file.alignment), data at \(file.dataOffset), \(ByteCount.format(file.file.count))"]
        if case .object(let a)? = adapterSummary(file) {
            let value = Dictionary(a, uniquingKeysWith: { x, _ in x })
            func show(_ key: String) -> String { JSONWriter.string(value[key] ?? .null) }
            lines.append("LoRA adapter: \(show("pairs")) pairs, ranks \(show("ranks")), alpha \(show("alpha")),"
                         + " scale \(value["scale"]?.string ?? "")")
        }
        lines.append("metadata:")
        lines += table(file.metadata.entries.map { key, value in
            [key, value.typeName, JSONWriter.string(summary(value))]
        }, rightAligned: [])
        if listTensors {
            lines.append("tensors:")
            lines += table([["name", "type", "ne", "shape", "offset", "size"]] + file.tensors.map { t in
                [t.name, t.type.name, list(t.ne), list(t.shape), String(t.fileOffset), ByteCount.format(t.byteCount)]
            }, rightAligned: [4, 5])
        } else {
            var byType: [(type: String, count: Int, bytes: Int)] = []
            for t in file.tensors {
                if let k = byType.firstIndex(where: { $0.type == t.type.name }) {
                    byType[k].count += 1
                    byType[k].bytes += t.byteCount
                } else {
                    byType.append((t.type.name, 1, t.byteCount))
                }
            }
            lines.append("tensors by type:")
            lines += table(byType.map { [$0.type, "\($0.count) tensors", ByteCount.format($0.bytes)] },
                           rightAligned: [1, 2])
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `[a, b, c]` without spaces, so a column stays one word wide.
    private static func list(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ",") + "]" }

    /// Rows as lines, columns two spaces apart, each padded to its widest cell (the last left unpadded unless
    /// right-aligned).
    private static func table(_ rows: [[String]], rightAligned: Set<Int>) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            var line = ""
            for (c, cell) in row.enumerated() {
                let fill = String(repeating: " ", count: widths[c] - cell.count)
                line += "  " + (rightAligned.contains(c) ? fill + cell : (c == row.count - 1 ? cell : cell + fill))
            }
            return line
        }
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
    public static func text(_ set: GGUFSplitSet, tensors listTensors: Bool = true) -> String {
        guard set.parts.count > 1 else { return text(set.parts[0], tensors: listTensors) }
        let total = set.parts.reduce(0) { $0 + $1.file.count }
        return "\(set.path): gguf-split set of \(set.parts.count) parts, \(set.tensors.count) tensors, "
            + "\(ByteCount.format(total))\n" + set.parts.map { text($0, tensors: listTensors) }.joined()
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
