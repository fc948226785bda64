import BloomCore
import Foundation

extension PackSummary {
    /// `pack --json`: totals, then one entry per dtype (`kinds`) and one per kind of tensor in the model
    /// (`tensor_kinds`): tensors, bytes in, bytes stored, ratio.
    public func json() -> JSONValue {
        func num(_ v: Int) -> JSONValue { .number(String(v)) }
        func num(_ v: Double) -> JSONValue { .number(String(format: "%.4f", v)) }
        func table(_ t: [String: Kind]) -> JSONValue {
            .object(t.keys.sorted().map { k -> (String, JSONValue) in
                let v = t[k]!
                return (k, .object([("tensors", num(v.tensors)), ("raw_bytes", num(v.rawBytes)),
                                    ("stored_bytes", num(v.storedBytes)), ("ratio", num(v.ratio))]))
            })
        }
        return .object([
            ("input", .string(input)), ("output", .string(output)), ("files", num(files)), ("tensors", num(tensors)),
            ("duplicate_tensors", num(duplicates)), ("input_bytes", num(inputBytes)),
            ("output_bytes", num(outputBytes)),
            ("ratio", num(ratio)), ("seconds", num(seconds)),
            ("mb_per_second", num(seconds > 0 ? Double(inputBytes) / seconds / 1e6 : 0)), ("kinds", table(kinds)),
            ("tensor_kinds", table(tensorKinds)),
        ])
    }

    /// One line per kind, then the total.
    public func text() -> String {
        var lines = kinds.keys.sorted().map { k -> String in
            let v = kinds[k]!
            return String(format: "  %-8@ %5d tensors  %10@ → %10@  %.3f×", k, v.tensors,
                          ByteCount.format(v.rawBytes), ByteCount.format(v.storedBytes), v.ratio)
        }
        lines.append(String(format: "packed %d files (%d tensors, %d stored once as duplicates): %@ → %@, %.3f×, "
                            + "%.1f s, %@/s", files, tensors, duplicates, ByteCount.format(inputBytes),
                            ByteCount.format(outputBytes), ratio, seconds,
                            ByteCount.format(seconds > 0 ? Int(Double(inputBytes) / seconds) : 0)))
        return lines.joined(separator: "\n")
    }
}

extension BKZArchive {
    /// `inspect FILE.bkz`: the files, and per file its segments with codec, sizes and ratio.
    public func inspectText() -> String {
        var lines = ["\(path): bkz v\(BKZFormat.version), \(index.isFolder ? "folder" : "file"), "
                     + "\(index.files.count) files, \(index.segments.count) segments, \(index.chunks.count) chunks, "
                     + "\(ByteCount.format(file.count))"]
        for f in index.files {
            let stored = f.segments.reduce(0) { $0 + storedBytes(ofSegment: $1) }
            lines.append("  \(f.path)  \(ByteCount.format(f.size)) → \(ByteCount.format(stored))  xxh64 "
                         + BKZFormat.hex(f.checksum))
            for s in f.segments where index.segments[s].codec != .zstd || f.segments.count > 1 {
                let seg = index.segments[s]
                lines.append("    \(seg.name)  \(seg.codec)  \(seg.rawLength) → \(storedBytes(ofSegment: s)) bytes")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `inspect FILE.bkz --json`.
    public func inspectJSON() -> JSONValue {
        func num(_ v: Int) -> JSONValue { .number(String(v)) }
        let files = index.files.map { f -> JSONValue in
            let segments = f.segments.map { s -> JSONValue in
                let seg = index.segments[s]
                return .object([("name", .string(seg.name)), ("codec", .string(seg.codec.description)),
                                ("raw_bytes", num(seg.rawLength)), ("stored_bytes", num(storedBytes(ofSegment: s))),
                                ("chunks", num(seg.chunks.count))])
            }
            return .object([("path", .string(f.path)), ("size", num(f.size)),
                            ("xxh64", .string(BKZFormat.hex(f.checksum))), ("segments", .array(segments))])
        }
        return .object([("path", .string(path)), ("format", .string("bkz")), ("version", num(Int(BKZFormat.version))),
                        ("folder", .bool(index.isFolder)), ("bytes", num(file.count)), ("files", .array(files))])
    }

    /// Bytes of frames a segment owns (0 for a duplicate).
    public func storedBytes(ofSegment s: Int) -> Int {
        index.segments[s].chunks.reduce(0) { $0 + index.chunks[$1].storedLength }
    }
}
