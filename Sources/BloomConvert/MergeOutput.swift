import BloomCheckpoint
import BloomCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a Hugging Face model folder (config.json, tokenizer files, safetensors shards + index) atomically: every file
/// is first written under a temporary name in the output folder and renamed only when all of them are complete —
/// tokenizer files, then the shards, then the index, then config.json. A failed or interrupted write leaves no
/// config.json, so nothing that looks like a model.
struct MergeOutput {
    /// Files a model folder keeps next to its weights that a merged model still needs, copied as they are.
    static let companionFiles = [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
        "merges.txt", "tokenizer.model", "chat_template.jinja", "chat_template.json", "generation_config.json",
    ]

    /// One shard: its file name and the tensors it holds.
    struct Shard {
        var fileName: String
        var entries: [SafetensorsWriter.Entry]
        var dataBytes: Int
    }

    /// Splits tensors into shards of at most `maxShardSize` data bytes, in order, as transformers does: a tensor that
    /// does not fit in the current shard starts the next one; a tensor larger than the limit gets a shard of its own.
    /// One shard is named `model.safetensors`; several `model-0000i-of-0000n.safetensors`.
    static func shards(_ entries: [SafetensorsWriter.Entry], maxShardSize: Int) throws -> [Shard] {
        var groups: [(entries: [SafetensorsWriter.Entry], bytes: Int)] = []
        for entry in entries {
            let size = try entry.byteCount()
            if let last = groups.last, !last.entries.isEmpty, last.bytes + size <= maxShardSize {
                groups[groups.count - 1].entries.append(entry)
                groups[groups.count - 1].bytes += size
            } else {
                groups.append(([entry], size))
            }
        }
        if groups.isEmpty { groups = [([], 0)] }
        let n = groups.count
        return groups.enumerated().map { k, group in
            let name = n == 1 ? "model.safetensors" : "model-\(pad5(k + 1))-of-\(pad5(n)).safetensors"
            return Shard(fileName: name, entries: group.entries, dataBytes: group.bytes)
        }
    }

    static func pad5(_ v: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, 5 - s.count)) + s
    }

    /// `model.safetensors.index.json`: total data size and which shard holds each tensor.
    static func index(_ shards: [Shard]) -> JSONValue {
        let total = shards.reduce(0) { $0 + $1.dataBytes }
        var map: [(String, JSONValue)] = []
        for shard in shards {
            for entry in shard.entries { map.append((entry.tensor.name, .string(shard.fileName))) }
        }
        return .object([("metadata", .object([("total_size", .int(total))])), ("weight_map", .object(map))])
    }

    /// Refuses an output folder that is one of the inputs (the base or an adapter).
    static func refuseInputs(_ output: String, inputs: [String]) throws {
        guard let outputReal = realPath(output) else { return }
        for input in inputs where realPath(input) == outputReal {
            throw BloomError(.invalidArgument, "the output folder is an input ('\(input)'); choose another folder",
                             path: output)
        }
    }

    /// Refuses an output folder that already holds files (other than a dead merge's temporaries); creates it when
    /// missing.
    /// - Returns: whether it created the folder (a failed merge removes it again).
    @discardableResult
    static func prepareFolder(_ output: String) throws -> Bool {
        var st = stat()
        if stat(output, &st) != 0 {
            guard mkdir(output, 0o755) == 0 else {
                throw BloomError(.io, "cannot create the output folder: \(String(cString: strerror(errno)))",
                                 path: output)
            }
            return true
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw BloomError(.invalidArgument, "the output exists and is not a folder", path: output)
        }
        AtomicFile.removeStaleTemporaries(in: output)
        if let existing = try entries(of: output).first {
            throw BloomError(.invalidArgument,
                             "the output folder is not empty (it holds '\(existing)'); remove it or choose another",
                             path: output)
        }
        return false
    }

    /// True when `path` is a folder holding something.
    static func isNonEmptyFolder(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return false }
        return !((try? entries(of: path)) ?? []).isEmpty
    }

    /// Refuses to replace a folder that holds one of the inputs (replacing it would delete what is being read).
    static func refuseInputsInside(_ output: String, inputs: [String]) throws {
        guard let outputReal = realPath(output) else { return }
        for input in inputs {
            guard let real = realPath(input), real == outputReal || real.hasPrefix(outputReal + "/") else { continue }
            throw BloomError(.invalidArgument, "the output folder holds an input ('\(input)'); it cannot be replaced",
                             path: output)
        }
    }

    /// A new, empty folder beside `output` (same file system: renames into place), named like bloomkit's temporaries.
    static func stagingFolder(for output: String) throws -> String {
        let trimmed = output.hasSuffix("/") && output.count > 1 ? String(output.dropLast()) : output
        let parent = trimmed.contains("/") ? String(trimmed[..<trimmed.lastIndex(of: "/")!]) : "."
        let name = String(trimmed.split(separator: "/").last ?? "output")
        let staging = (parent.isEmpty ? "" : parent) + "/.\(name).bloomkit-merge-\(getpid())"
        removeTree(staging)
        guard mkdir(staging, 0o755) == 0 else {
            throw BloomError(.io, "cannot create a staging folder: \(String(cString: strerror(errno)))", path: staging)
        }
        return staging
    }

    /// Puts the complete `staging` folder in place of `output`: the old folder is renamed aside, the new one renamed
    /// in (the old one comes back if that fails), then the old one is removed.
    static func replace(_ output: String, with staging: String) throws {
        let aside = staging + "-old"
        guard rename(output, aside) == 0 else {
            throw BloomError(.io, "cannot move the old output folder aside: \(String(cString: strerror(errno)))",
                             path: output)
        }
        guard rename(staging, output) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = rename(aside, output)
            throw BloomError(.io, "cannot move the merged folder into place: \(reason)", path: output)
        }
        removeTree(aside)
    }

    /// Removes a folder bloomkit made, with everything in it.
    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Names in a folder, without `.` and `..`.
    static func entries(of folder: String) throws -> [String] {
        guard let d = opendir(folder) else {
            throw BloomError(.io, "cannot list the folder: \(String(cString: strerror(errno)))", path: folder)
        }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Writes `bytes` to a new temporary file for `path` (committed later).
    static func stage(_ bytes: [UInt8], at path: String) throws -> AtomicFile {
        let file = try AtomicFile(destination: path, bufferSize: 64 << 10)
        try file.write(bytes)
        return file
    }
}
