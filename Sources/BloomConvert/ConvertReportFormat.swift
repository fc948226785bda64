import BloomCore
import BloomQuant
import Foundation

extension ConvertReport {
    /// The report as a table: one line per tensor (type, ne, size, RMSE, max abs, SNR), then the totals.
    public func table() -> String {
        var lines: [String] = []
        let nameWidth = max(4, tensors.map(\.name.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        var header = pad("name", nameWidth) + "  " + pad("type", 5) + "  " + pad("ne", 14) + "  " + lpad("size", 9)
        if measured { header += "  " + lpad("rmse", 10) + "  " + lpad("max abs", 10) + "  " + lpad("snr dB", 7) }
        lines.append(header)
        for t in tensors {
            var line = pad(t.name, nameWidth) + "  " + pad(t.type.name, 5)
                + "  " + pad(t.ne.map(String.init).joined(separator: "×"), 14)
                + "  " + lpad(ByteCount.format(t.byteCount), 9)
            if measured {
                line += "  " + lpad(String(format: "%.3e", t.error.rmse), 10)
                    + "  " + lpad(String(format: "%.3e", t.error.maxAbs), 10)
                    + "  " + lpad(Self.snr(t.error.snrDB), 7)
            }
            if let note = t.note { line += "  (\(note))" }
            lines.append(line)
        }
        var total = "total: \(tensors.count) tensors, \(elementCount) weights, "
            + "file \(ByteCount.format(fileSize)) (\(fileSize) bytes), "
            + String(format: "%.3f bits per weight, %.2f s", bitsPerWeight, seconds)
        if measured {
            var all = QuantizationError()
            for t in tensors { all.merge(t.error) }
            total += String(format: ", rmse %.3e, max abs %.3e, snr %@ dB", all.rmse, all.maxAbs, Self.snr(all.snrDB))
        }
        lines.append(total)
        return lines.joined(separator: "\n") + "\n"
    }

    private static func snr(_ db: Double) -> String { db.isInfinite ? "inf" : String(format: "%.2f", db) }

    /// The report as JSON (`--json`): `{file, file_size, seconds, bits_per_weight, weights, tensors: [...]}`;
    /// an exact encoding has `snr_db: null`.
    public func json() -> JSONValue {
        var rows: [JSONValue] = []
        for t in tensors {
            var pairs: [(String, JSONValue)] = [
                ("name", .string(t.name)), ("source", .string(t.sourceName)), ("type", .string(t.type.name)),
                ("ne", .array(t.ne.map { .int($0) })), ("nbytes", .int(t.byteCount)),
                ("elements", .int(t.elementCount)),
            ]
            if measured {
                pairs += [("rmse", .float(t.error.rmse)), ("max_abs", .float(t.error.maxAbs)),
                          ("snr_db", .float(t.error.snrDB))]
            }
            if let note = t.note { pairs.append(("note", .string(note))) }
            rows.append(.object(pairs))
        }
        return .object([
            ("file", .string(path)), ("file_size", .int(fileSize)), ("seconds", .float(seconds)),
            ("bits_per_weight", .float(bitsPerWeight)), ("weights", .int(elementCount)), ("tensors", .array(rows)),
        ])
    }
}
