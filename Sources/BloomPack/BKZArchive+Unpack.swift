import BloomCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `verify` or `unpack` went through.
public struct UnpackSummary: Sendable {
    public var files = 0
    public var chunks = 0
    public var bytes = 0
    public var seconds = 0.0
}

extension BKZArchive {
    /// Decodes every file and checks every chunk's and every file's checksum; writes nothing.
    public func verify(threads: Int = 2, quiet: Bool = true) throws -> UnpackSummary {
        try walk(threads: threads, quiet: quiet, label: "verify") { _ in nil }
    }

    /// Restores every packed file byte for byte under `output`: a folder for a packed folder (it must not exist,
    /// or be empty), a file for a packed file. Written under temporary names, renamed into place only when every
    /// checksum held; on an error nothing is left under `output`. The workers that decode the chunks also write them,
    /// each at its offset (through the page cache; `commit` syncs).
    public func unpack(to output: String, threads: Int = 2, quiet: Bool = true) throws -> UnpackSummary {
        let target = PackPaths.canonical(output)
        let outStat = PackPaths.status(output)
        if target == PackPaths.canonical(path) || PackPaths.sameFile(outStat, path) {
            throw BloomError(.bkzBadOutput, "the output is the .bkz being unpacked", path: output)
        }
        guard index.isFolder else {
            return try walk(threads: threads, quiet: quiet, label: "unpack") { _ in try AtomicFile.placed(output) }
        }
        if let st = outStat {
            let empty = PackPaths.isDirectory(st) && ((try? PackPaths.files(under: output))?.isEmpty ?? false)
                && rmdir(output) == 0
            guard empty else { throw BloomError(.bkzBadOutput, "the output already exists", path: output) }
        }
        let (dir, name) = PackPaths.split(output)
        let temporary = PackPaths.join(dir, "." + name + AtomicFile.temporaryMarker + String(getpid()))
        PackPaths.removeTree(temporary)
        guard mkdir(temporary, 0o755) == 0 else {
            throw BloomError(.io, "cannot create a temporary folder next to the output: "
                             + String(cString: strerror(errno)), path: output)
        }
        do {
            let summary = try walk(threads: threads, quiet: quiet, label: "unpack") { [self] entry in
                try makeFolders(for: entry.path, in: temporary)
                return try AtomicFile.placed(temporary + "/" + entry.path)
            }
            guard rename(temporary, output) == 0 else {
                throw BloomError(.io, "cannot rename into place: \(String(cString: strerror(errno)))", path: output)
            }
            return summary
        } catch {
            PackPaths.removeTree(temporary)
            throw error
        }
    }

    private func makeFolders(for relative: String, in root: String) throws {
        var at = root
        for part in relative.split(separator: "/").dropLast() {
            at += "/" + part
            if mkdir(at, 0o755) != 0, errno != EEXIST {
                throw BloomError(.io, "cannot create a folder: \(String(cString: strerror(errno)))", path: at)
            }
        }
    }

    /// Decodes and checks every file in order; `open(entry)` gives the file it is written to (nil: none), committed
    /// once the file's checksum held.
    private func walk(threads: Int, quiet: Bool, label: String, open: (BKZEntry) throws -> AtomicFile?)
        throws -> UnpackSummary {
        let start = ProgressReporter.now()
        let total = index.files.reduce(0) { $0 + $1.size }
        let progress = ProgressReporter(label: label, totalItems: index.files.count, totalBytes: total, quiet: quiet)
        var summary = UnpackSummary()
        for (f, entry) in index.files.enumerated() {
            let out = try open(entry)
            var place: (@Sendable (Int, UnsafeRawBufferPointer) throws -> Void)?
            if let out {
                let box = SendableBox(out)
                place = { offset, bytes in try box.value.write(bytes, at: offset) }
            }
            var placed = 0
            try stream(file: f, threads: threads, place: place) { bytes in
                placed += bytes.count  // in order: every byte below is in the file
                out?.writeBehind(through: placed)
                summary.chunks += 1
                summary.bytes += bytes.count
                progress.update(items: f, bytes: summary.bytes)
            }
            try out?.commit()
            summary.files += 1
        }
        progress.finish()
        summary.seconds = ProgressReporter.now() - start
        return summary
    }
}

extension BKZArchive {
    /// The packed file of a one-file .bkz (a GGUF file) decoded into memory, every chunk and the file's xxh64
    /// checked: what `generate` runs a packed model from. Takes the file's size in memory.
    /// - Throws: `.unsupported` for a packed folder; the archive's `bkz-*` errors.
    public func decodeIntoMemory(threads: Int = 2) throws -> MappedFile {
        guard !index.isFolder, let entry = index.files.first else {
            throw BloomError(.unsupported, "the .bkz holds a folder of \(index.files.count) files, not one file",
                             path: path)
        }
        return try MappedFile(anonymous: entry.size, path: path) { memory in
            var at = 0
            try stream(file: 0, threads: threads) { bytes in
                guard bytes.count <= memory.count - at else {
                    throw BloomError(.bkzBadIndex, "file '\(entry.path)' decodes past its \(entry.size) bytes",
                                     path: path)
                }
                UnsafeMutableRawBufferPointer(rebasing: memory[at..<(at + bytes.count)]).copyMemory(from: bytes)
                at += bytes.count
            }
        }
    }
}
