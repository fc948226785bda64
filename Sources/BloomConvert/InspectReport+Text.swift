import BloomArch
import BloomCheckpoint
import BloomCore

extension InspectReport {
    /// The human report: a summary block, then one aligned row per tensor (name, dtype, shape, size).
    public func text() -> String {
        var lines: [(String, String)] = [
            ("path", resolvedPath == path ? path : "\(path) → \(resolvedPath)"),
            ("kind", kind.rawValue),
            ("format", formatLine),
        ]
        for file in checkpoint.files {
            lines.append(("file", "\(Paths.basename(file.path)) (\(ByteCount.format(file.size)))"))
        }
        let shared = sharedTensorCount > 0 ? " (\(sharedTensorCount) sharing another tensor's bytes)" : ""
        lines += [
            ("tensors", "\(checkpoint.tensors.count)\(shared)"),
            ("parameters", "\(grouped(parameterCount)) (\(compact(parameterCount)))"),
            ("bytes", "\(grouped(byteCount)) (\(ByteCount.format(byteCount)))"),
            ("dtypes",
             dtypeTotals.map { "\($0.dtype.rawValue) ×\($0.tensors) (\(compact($0.parameters)) params)" }
                 .joined(separator: ", ")),
        ]
        if !mergedMetadata.isEmpty {
            lines.append(("metadata", mergedMetadata.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")))
        }
        if let c = bloomConfig {
            let head = model.map {
                $0.tensor(named: "lm_head.weight")?.name == "lm_head.weight"
                    ? "stored lm_head" : "tied to word_embeddings"
            } ?? ""
            lines.append(("architecture",
                          "BLOOM, \(c.layerCount) layers, hidden \(c.hiddenSize), \(c.headCount) heads (head dim " +
                          "\(c.headDim)), vocabulary \(c.vocabSize), output head \(head)"))
            if let dtype = c.dtype { lines.append(("config dtype", dtype)) }
        } else if let configProblem {
            lines.append(("architecture", "unknown: \(configProblem)"))
        }
        if let tokenizer = model?.tokenizerPath { lines.append(("tokenizer", Paths.basename(tokenizer))) }
        if let adapter { lines += adapterLines(adapter) }

        let width = lines.map(\.0.count).max() ?? 0
        var out = lines.map { "\($0.0):" + String(repeating: " ", count: width - $0.0.count + 1) + $0.1 }
            .joined(separator: "\n")
        out += "\n\n" + table()
        return out
    }

    private var formatLine: String {
        let n = checkpoint.files.count
        let files = n == 1 ? "1 file" : "\(n) files"
        let index = checkpoint.index.map { ", sharded by \(Paths.basename($0.path))" } ?? ""
        return "\(checkpoint.format.rawValue) (\(files)\(index))"
    }

    private func adapterLines(_ adapter: AdapterFolder) -> [(String, String)] {
        let c = adapter.config
        let targets: String
        switch c.targetModules {
        case .names(let names)?: targets = names.joined(separator: ", ")
        case .regex(let regex)?: targets = "regex \(regex)"
        case .allLinear?: targets = "all-linear"
        case nil: targets = "(not set)"
        }
        var lines: [(String, String)] = [
            ("adapter",
             "LoRA r \(c.r), alpha \(formatNumber(c.loraAlpha))\(c.useRslora ? " (rsLoRA: scaling alpha/√r)" : ""), " +
             "\(adapter.modules.count) modules"),
            ("targets", targets),
            ("layout", adapter.layout.rawValue + (c.enableLora.map { " (enable_lora \($0))" } ?? "")),
        ]
        if !c.rankPattern.isEmpty {
            lines.append(("rank pattern", c.rankPattern.map { "\($0.pattern)=\($0.rank)" }.joined(separator: ", ")))
        }
        if !c.alphaPattern.isEmpty {
            lines.append(("alpha pattern",
                          c.alphaPattern.map { "\($0.pattern)=\(formatNumber($0.alpha))" }.joined(separator: ", ")))
        }
        if c.bias != "none" || !adapter.replacements.isEmpty {
            lines.append(("replaces", "bias \(c.bias): \(adapter.replacements.count) base tensors"))
        }
        if c.useDora { lines.append(("DoRA", "yes (magnitude vectors)")) }
        if let base = c.baseModelNameOrPath { lines.append(("base model", base)) }
        return lines
    }

    private func table() -> String {
        let rows = checkpoint.tensors.map { t in
            [t.name, t.dtype.rawValue, "[" + t.shape.map(String.init).joined(separator: ", ") + "]",
             ByteCount.format(t.byteCount)]
        }
        let header = ["NAME", "DTYPE", "SHAPE", "SIZE"]
        let widths = (0..<4).map { k in ([header] + rows).map { $0[k].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            // Sizes right-aligned, the rest left-aligned.
            let padded = cells.enumerated().map { k, cell in
                let pad = String(repeating: " ", count: widths[k] - cell.count)
                return k == 3 ? pad + cell : cell + pad
            }
            return padded.joined(separator: "  ").replacing(/\s+$/, with: "")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    private func grouped(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (k, c) in digits.enumerated() {
            if k > 0, (digits.count - k) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }

    /// 1.2 K, 560.2 M, 7.07 B.
    private func compact(_ n: Int) -> String {
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")]
        for (scale, unit) in units where Double(n) >= scale {
            let v = Double(n) / scale
            return formatNumber((v * (v < 10 ? 100 : 10)).rounded() / (v < 10 ? 100 : 10)) + " " + unit
        }
        return String(n)
    }

    private func formatNumber(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }
}
